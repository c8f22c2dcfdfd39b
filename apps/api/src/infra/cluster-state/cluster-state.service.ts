import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { ClusterEvent, clusterKeys, Presence, type MemberState, type RoutedSource, type RoutingDecision, type RoutingSettings } from '@gateway/domain';
import { route } from '@gateway/routing';
import { CONFIG, type Config } from '../config/config';
import { RedisService } from '../redis/redis.service';
import { ClusterMirror } from './cluster-mirror';
import { DecisionMemo } from './decision-memo';
import { safeJson } from '../common/safe-json';
import { outageOf } from '../http/outage';
import { OutageWatch } from '../common/outage-watch';
import { connectRedis, masters, type RedisConnection } from '../redis/connect';

export interface MemberRow {
  id: string;
  name: string;
  isPrimary: boolean;
  enabled: boolean;
  joinOrder: number;
  /** Drained by an admin: no new work. Null or absent when it serves. */
  drainRequestedAt?: Date | string | null;
}

/**
 * Presence (Redis) joined with membership (PostgreSQL): the view routing decides on. Presence and config
 * versions come from an in-memory mirror fed by the clusters' event channels (see ClusterMirror), so the hot
 * path of a live query reads neither PostgreSQL nor Redis to route it.
 */
@Injectable()
export class ClusterStateService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(ClusterStateService.name);
  private readonly subscriber: RedisConnection;
  private readonly mirror: ClusterMirror;
  private readonly channels: RegExp;
  private readonly configListeners: ((clusterId: string) => void)[] = [];

  constructor(
    private readonly redis: RedisService,
    @Inject(CONFIG) private readonly config: Config,
  ) {
    // Connected in onModuleInit, once its handlers are in place (a 'ready' before them would never attach).
    this.subscriber = connectRedis(config, { maxRetriesPerRequest: null, lazyConnect: true, connectionName: `gateway-api-events:${config.REDIS_PREFIX}:${process.pid}` });
    this.subscriber.on('error', () => undefined);
    this.mirror = new ClusterMirror({ presence: (c, ids) => this.readPresence(c, ids), version: (c) => this.readVersion(c) });
    const prefix = config.REDIS_PREFIX.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    this.channels = new RegExp(`^${prefix}:\\{([^}]+)\\}:events$`);
  }

  onModuleInit() {
    this.subscriber.on('pmessage', (_pattern, channel, message) => {
      const clusterId = this.channels.exec(channel)?.[1];
      const parsed = clusterId ? ClusterEvent.safeParse(safeJson(message)) : null;
      if (clusterId && parsed?.success) {
        this.mirror.onEvent(clusterId, parsed.data);
        if (parsed.data.t === 'version') this.configChanged(clusterId);
      }
    });
    // Events missed while disconnected would leave the mirror wrong: it forgets everything until subscribed again.
    for (const e of ['close', 'reconnecting', 'end']) this.subscriber.on(e, () => this.mirror.detach());
    this.subscriber.on('ready', () => {
      this.subscriber
        .psubscribe(`${this.config.REDIS_PREFIX}:{*}:events`)
        .then(() => this.mirror.attach())
        .catch((e) => this.logger.warn(`could not subscribe to cluster events: ${(e as Error).message}`));
    });
    // Not awaited: until it is up the mirror reads Redis, and ioredis keeps retrying in the background.
    this.subscriber.connect().catch(() => undefined);
  }

  onModuleDestroy() {
    if (this.bumpTimer) clearTimeout(this.bumpTimer);
    this.subscriber.disconnect();
  }

  /** Presence of the given members that are connected to this instance, which needs no Redis (MemberHub provides it). */
  private local: (clusterId: string, memberIds: string[]) => Map<string, Presence> = () => new Map();

  provideLocalPresence(local: (clusterId: string, memberIds: string[]) => Map<string, Presence>) {
    this.local = local;
  }

  /**
   * Presence for views and routing: as `presence()` while Redis answers; while it is out of reach, what this instance
   * knows first-hand (the members connected to it) with `known: false`, so a list shows presence as unknown rather
   * than every member as offline, and live work keeps flowing to the members connected here.
   */
  async presenceView(clusterId: string, memberIds: string[]): Promise<{ presence: Map<string, Presence>; known: boolean }> {
    try {
      return { presence: await this.presence(clusterId, memberIds), known: true };
    } catch (e) {
      if (outageOf(e) !== 'redis') throw e;
      return { presence: this.local(clusterId, memberIds), known: false };
    }
  }

  /** Called (on every API instance) when a cluster's settings, members or data sources changed. */
  onConfigChange(listener: (clusterId: string) => void) {
    this.configListeners.push(listener);
  }

  private configChanged(clusterId: string) {
    for (const l of this.configListeners) l(clusterId);
  }

  /**
   * A connected member's presence, stored by the instance holding its connection, valid for ttlMs unless renewed,
   * and told to every instance's mirror at once: one round trip.
   */
  async writePresence(clusterId: string, presence: Presence, ttlMs: number) {
    const keys = this.keys(clusterId);
    const event: ClusterEvent = { t: 'presence', presence, ttlMs };
    this.mirror.onEvent(clusterId, event);
    await this.redis.client.multi().set(keys.presence(presence.memberId), JSON.stringify(presence), 'PX', ttlMs).publish(keys.events, JSON.stringify(event)).exec();
  }

  /**
   * The member's connection to `instanceId` closed: it is offline on every instance at once, unless it has
   * connected to another instance meanwhile (whose presence then stays).
   */
  async withdrawPresence(clusterId: string, memberId: string, instanceId: string) {
    const keys = this.keys(clusterId);
    const event: ClusterEvent = { t: 'gone', memberId };
    const current = this.mirror.peek(clusterId, memberId);
    if (!current || current.instanceId === instanceId) this.mirror.onEvent(clusterId, event);
    await this.redis.client.eval(WITHDRAW, 2, keys.presence(memberId), keys.events, instanceId, JSON.stringify(event));
  }

  keys(clusterId: string) {
    return clusterKeys(this.config.REDIS_PREFIX, clusterId);
  }

  /** Presence of the members: the mirror's (or Redis'), and first-hand for the members connected to this instance. */
  async presence(clusterId: string, memberIds: string[]): Promise<Map<string, Presence>> {
    if (memberIds.length === 0) return new Map();
    const found = await this.mirror.presence(clusterId, memberIds);
    // Connected here is online, whatever Redis says a moment after it restarted empty.
    for (const [id, p] of this.local(clusterId, memberIds)) found.set(id, p);
    return found;
  }

  private async readPresence(clusterId: string, memberIds: string[]) {
    const keys = memberIds.map((id) => this.keys(clusterId).presence(id));
    const pipeline = this.redis.client.pipeline().mget(...keys);
    for (const k of keys) pipeline.pttl(k);
    const results = (await pipeline.exec()) ?? [];
    const [err, values] = results[0] ?? [new Error('no reply from Redis')];
    if (err) throw err;
    return (values as (string | null)[]).map((v, i) => {
      const parsed = v ? Presence.safeParse(safeJson(v)) : null;
      return { presence: parsed?.success ? parsed.data : null, ttlMs: Number(results[i + 1]?.[1] ?? 0) };
    });
  }

  /** What routing decides on, from presence already read (see presenceView). */
  private memberStates(members: MemberRow[], presence: Map<string, Presence>): MemberState[] {
    return members.map((m) => {
      const p = presence.get(m.id);
      const sources = p?.sources ? Object.fromEntries(p.sources.map((s) => [s.id, { ok: s.ok, error: s.error }])) : undefined;
      return { id: m.id, name: m.name, primary: m.isPrimary, enabled: m.enabled, online: !!p, draining: !!p?.draining || !!m.drainRequestedAt, cpu: p?.cpu ?? 0, memory: p?.memory ?? 0, joinOrder: m.joinOrder, sources };
    });
  }

  /**
   * Who serves, on presence already read: callers that also need the presence read it once. The last decision for
   * the same members is reused while nothing routing reads has changed (presence moves with each heartbeat, a few
   * times a second; live queries come much more often).
   */
  routeOn(routing: RoutingSettings, members: MemberRow[], presence: Map<string, Presence>, source?: RoutedSource): RoutingDecision {
    return this.decisions.decide(routing, members, presence, source, () => route(this.memberStates(members, presence), routing, source));
  }

  private readonly decisions = new DecisionMemo();

  /** Who serves now. While Redis is out of reach, the members connected to this instance are the ones known to be online. */
  async decide(clusterId: string, routing: RoutingSettings, members: MemberRow[], source?: RoutedSource): Promise<RoutingDecision> {
    const { presence } = await this.presenceView(clusterId, members.map((m) => m.id));
    return this.routeOn(routing, members, presence, source);
  }

  /**
   * Agents compare this number on every heartbeat and fetch their config again when it moved; API instances
   * hear of it on the cluster's event channel (this one at once).
   */
  async bumpConfigVersion(clusterId: string) {
    try {
      await this.publishVersion(clusterId);
    } catch (e) {
      if (outageOf(e) !== 'redis') throw e;
      // The change is stored (PostgreSQL is the source of truth): members connected here get it now, the other
      // instances as soon as Redis is back, when the bump goes out.
      this.configChanged(clusterId);
      this.pendingBumps.add(clusterId);
      this.bumpWatch.failed(e as Error);
      this.retryBumps();
    }
  }

  private async publishVersion(clusterId: string) {
    const keys = this.keys(clusterId);
    const version = await this.redis.client.incr(keys.configVersion);
    const event: ClusterEvent = { t: 'version', version };
    this.mirror.onEvent(clusterId, event);
    await this.redis.client.publish(keys.events, JSON.stringify(event));
    // This instance's own subscription hears it too when attached; members connected here must not wait for it.
    if (!this.mirror.attached) this.configChanged(clusterId);
  }

  /** Config changes stored while Redis was out of reach, whose version bump goes out once it is back. */
  private readonly pendingBumps = new Set<string>();
  private readonly bumpWatch = new OutageWatch(this.logger, 'announcement of config changes to the other API instances');
  private bumpTimer: NodeJS.Timeout | null = null;

  private retryBumps() {
    if (this.bumpTimer) return;
    this.bumpTimer = setTimeout(async () => {
      this.bumpTimer = null;
      for (const clusterId of [...this.pendingBumps]) {
        try {
          await this.publishVersion(clusterId);
          this.pendingBumps.delete(clusterId);
          this.bumpWatch.succeeded();
        } catch (e) {
          this.bumpWatch.failed(e as Error);
          break;
        }
      }
      if (this.pendingBumps.size) this.retryBumps();
    }, 500);
    this.bumpTimer.unref();
  }

  /** Removes every key of a cluster (presence, config version, queues) from Redis. */
  async removeKeys(clusterId: string) {
    // On a Redis Cluster the keys (one hash tag) live on one master, which SCAN must be asked on: each is.
    for (const node of masters(this.redis.client)) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', `${this.keys(clusterId).bullPrefix}:*`, 'COUNT', 1000);
        if (keys.length) await this.redis.client.del(...keys);
        cursor = next;
      } while (cursor !== '0');
    }
  }

  /** Config versions last seen, for while Redis is out of reach. */
  private readonly lastVersions = new Map<string, number>();

  /**
   * The cluster's config version. While Redis is out of reach: the last one seen, or -1 when none was (a version no
   * cached row has, so callers read PostgreSQL, which answers).
   */
  async configVersion(clusterId: string): Promise<number> {
    try {
      const version = await this.mirror.version(clusterId);
      this.lastVersions.set(clusterId, version);
      return version;
    } catch (e) {
      if (outageOf(e) !== 'redis') throw e;
      return this.lastVersions.get(clusterId) ?? -1;
    }
  }

  private async readVersion(clusterId: string): Promise<number> {
    return Number((await this.redis.client.get(this.keys(clusterId).configVersion)) ?? 0);
  }
}

/** Deletes a presence key only if the instance ARGV[1] holds it, and then says so on the events channel. */
const WITHDRAW = `
local v = redis.call('GET', KEYS[1])
if v then
  local ok, p = pcall(cjson.decode, v)
  if ok and p.instanceId == ARGV[1] then
    redis.call('DEL', KEYS[1])
    redis.call('PUBLISH', KEYS[2], ARGV[2])
    return 1
  end
end
return 0`;
