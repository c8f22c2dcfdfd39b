import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { z } from 'zod';
import { instanceKeys, LiveWork, MemberMessage } from '@gateway/domain';
import { CONFIG, type Config } from '../../infra/config/config';
import { RedisService } from '../../infra/redis/redis.service';
import { MemberHub } from './member-hub.service';
import { isPartialFrame, type LiveFrame, type LiveSink } from './member-connection';
import { safeJson } from '../../infra/common/safe-json';
import { connectRedis, type RedisConnection } from '../../infra/redis/connect';

/** What one instance asks of the instance holding a member (its inbox). */
const Forwarded = z.discriminatedUnion('t', [
  z.object({ t: z.literal('live'), id: z.string(), from: z.string(), memberId: z.string(), work: LiveWork }),
  z.object({ t: z.literal('cancel'), id: z.string(), memberId: z.string() }),
]);
type Forwarded = z.infer<typeof Forwarded>;

/** What comes back to the asking instance (its replies list): a frame of the member's answer, or why there is none. */
const Relayed = z.object({ id: z.string(), bytes: z.number().int().optional(), frame: MemberMessage.optional(), lost: z.string().optional() });
type Relayed = z.infer<typeof Relayed>;

/** Lists of instances that died are not kept forever. */
const LIST_TTL_S = 60;

/**
 * Live work between API instances: a request that reaches an instance other than the one holding the serving
 * member's connection goes to that instance's inbox (a Redis list inside the control plane), and the member's
 * answer comes back, frame by frame, on the asking instance's replies list. Lists, not pub/sub: a large result
 * neither drops a subscriber nor is lost while one reconnects. Each instance blocks on its two lists with
 * connections of their own.
 */
@Injectable()
export class MemberRelay implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(MemberRelay.name);
  private readonly inbox: RedisConnection;
  private readonly replies: RedisConnection;
  private readonly pending = new Map<string, LiveSink>();
  private running = true;
  private readonly keys: ReturnType<typeof instanceKeys>;

  constructor(
    private readonly hub: MemberHub,
    private readonly redis: RedisService,
    @Inject(CONFIG) private readonly config: Config,
  ) {
    this.keys = instanceKeys(config.REDIS_PREFIX, hub.instanceId);
    const blocking = () => {
      const r = connectRedis(config, { maxRetriesPerRequest: null, connectionName: `gateway-api-relay:${hub.instanceId}` });
      r.on('error', () => undefined);
      return r;
    };
    this.inbox = blocking();
    this.replies = blocking();
  }

  onModuleInit() {
    void this.loop(this.inbox, this.keys.inbox, (text) => this.onForwarded(text));
    void this.loop(this.replies, this.keys.replies, (text) => this.onRelayed(text));
  }

  private async loop(conn: RedisConnection, key: string, handle: (text: string) => void) {
    while (this.running) {
      try {
        const got = await conn.blpop(key, 1);
        if (got) handle(got[1]);
      } catch {
        if (this.running) await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  /** Sends live work to the member held by `instanceId`; the answer comes to the sink. */
  forward(instanceId: string, memberId: string, id: string, work: LiveWork, sink: LiveSink) {
    this.pending.set(id, sink);
    const message: Forwarded = { t: 'live', id, from: this.hub.instanceId, memberId, work };
    this.push(instanceKeys(this.config.REDIS_PREFIX, instanceId).inbox, message).catch((e: Error) => {
      if (this.pending.delete(id)) sink.lost(`cannot reach the control plane's queue store: ${e.message}`);
    });
  }

  cancel(instanceId: string, memberId: string, id: string) {
    this.pending.delete(id);
    void this.push(instanceKeys(this.config.REDIS_PREFIX, instanceId).inbox, { t: 'cancel', id, memberId } satisfies Forwarded).catch(() => undefined);
  }

  /** The request ended here (answered, timed out, member lost): later frames are dropped. */
  done(id: string) {
    this.pending.delete(id);
  }

  private async push(key: string, message: Forwarded | Relayed) {
    await this.redis.client.multi().rpush(key, JSON.stringify(message)).expire(key, LIST_TTL_S).exec();
  }

  private onForwarded(text: string) {
    const parsed = Forwarded.safeParse(safeJson(text));
    if (!parsed.success) return void this.logger.warn('ignored a forwarded request that is not one');
    const m = parsed.data;
    if (m.t === 'cancel') return this.hub.cancelLive(m.memberId, m.id);
    const back = instanceKeys(this.config.REDIS_PREFIX, m.from).replies;
    const relay = (r: Relayed) => void this.push(back, r).catch(() => undefined);
    const sink: LiveSink = {
      frame: (frame: LiveFrame, bytes) => relay({ id: m.id, frame, bytes }),
      lost: (reason) => relay({ id: m.id, lost: reason }),
    };
    if (!this.hub.startLive(m.memberId, m.id, m.work, sink)) sink.lost('the member is no longer connected to the instance it was routed to');
  }

  private onRelayed(text: string) {
    const parsed = Relayed.safeParse(safeJson(text));
    if (!parsed.success) return;
    const r = parsed.data;
    const sink = this.pending.get(r.id);
    if (!sink) return;
    if (r.lost !== undefined) {
      this.pending.delete(r.id);
      return sink.lost(r.lost);
    }
    const frame = r.frame as LiveFrame | undefined;
    if (!frame) return;
    if (!isPartialFrame(frame)) this.pending.delete(r.id);
    sink.frame(frame, r.bytes ?? 0);
  }

  onModuleDestroy() {
    this.running = false;
    this.inbox.disconnect();
    this.replies.disconnect();
    for (const [id, sink] of this.pending) {
      this.pending.delete(id);
      sink.lost('the API instance is shutting down');
    }
  }
}
