import { Inject, Injectable } from '@nestjs/common';
import { clusterKeys, Presence, type MemberState, type RoutingDecision } from '@gateway/domain';
import { route } from '@gateway/routing';
import { CONFIG, type Config } from '../config/config';
import { RedisService } from '../redis/redis.service';
import { routingOf, type ClusterRow } from '../clusters/views';

export interface MemberRow {
  id: string;
  name: string;
  isPrimary: boolean;
  enabled: boolean;
  joinOrder: number;
}

/** Presence (Redis) joined with membership (PostgreSQL): the view routing decides on. */
@Injectable()
export class ClusterStateService {
  constructor(
    private readonly redis: RedisService,
    @Inject(CONFIG) private readonly config: Config,
  ) {}

  keys(clusterId: string) {
    return clusterKeys(this.config.REDIS_PREFIX, clusterId);
  }

  async presence(clusterId: string, memberIds: string[]): Promise<Map<string, Presence>> {
    if (memberIds.length === 0) return new Map();
    const keys = this.keys(clusterId);
    const values = await this.redis.client.mget(...memberIds.map((id) => keys.presence(id)));
    const out = new Map<string, Presence>();
    values.forEach((v, i) => {
      if (!v) return;
      const parsed = Presence.safeParse(JSON.parse(v));
      if (parsed.success) out.set(memberIds[i], parsed.data);
    });
    return out;
  }

  async memberStates(clusterId: string, members: MemberRow[]): Promise<MemberState[]> {
    const presence = await this.presence(clusterId, members.map((m) => m.id));
    return members.map((m) => {
      const p = presence.get(m.id);
      return { id: m.id, name: m.name, primary: m.isPrimary, enabled: m.enabled, online: !!p && !p.draining, cpu: p?.cpu ?? 0, memory: p?.memory ?? 0, joinOrder: m.joinOrder };
    });
  }

  async decide(cluster: Pick<ClusterRow, 'id' | 'routingMode' | 'cpuThreshold' | 'memoryThreshold'>, members: MemberRow[]): Promise<RoutingDecision> {
    return route(await this.memberStates(cluster.id, members), routingOf(cluster));
  }

  /** Whether the member is alive at all (a draining member still finishes the work it started). */
  async isAlive(clusterId: string, memberId: string): Promise<boolean> {
    return (await this.redis.client.exists(this.keys(clusterId).presence(memberId))) === 1;
  }

  /** Agents compare this number on every heartbeat and fetch their config again when it moved. */
  async bumpConfigVersion(clusterId: string) {
    await this.redis.client.incr(this.keys(clusterId).configVersion);
  }

  /** Removes every key of a cluster (presence, config version, queues) from Redis. */
  async removeKeys(clusterId: string) {
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.client.scan(cursor, 'MATCH', `${this.keys(clusterId).bullPrefix}:*`, 'COUNT', 1000);
      if (keys.length) await this.redis.client.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  }

  async configVersion(clusterId: string): Promise<number> {
    return Number((await this.redis.client.get(this.keys(clusterId).configVersion)) ?? 0);
  }
}
