import { Inject, Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { Queue } from 'bullmq';
import { clusterKeys, QUEUES } from '@gateway/domain';
import { CONFIG, type Config } from '../config/config';
import { StoreUnavailable } from '../http/outage';
import { connectRedis, type RedisConnection } from '../redis/connect';

/**
 * Producers for the clusters' refresh queues (one queue per cluster, under the cluster's hash tag). The queue is the
 * durable carrier of refreshes inside the control plane: API instances consume it (RefreshDispatcher) and hand
 * each job to a member over its connection.
 */
@Injectable()
export class RefreshQueueService implements OnModuleInit, OnModuleDestroy {
  private readonly connection: RedisConnection;
  private readonly queues = new Map<string, Queue>();

  constructor(@Inject(CONFIG) private readonly config: Config) {
    // A producer fails fast while Redis is out of reach (BullMQ's advice) rather than queueing commands in memory:
    // its callers keep the refresh in PostgreSQL and the reconciler queues it later.
    this.connection = connectRedis(config, { maxRetriesPerRequest: null, enableOfflineQueue: false });
    this.connection.on('error', () => undefined);
  }

  /** Waits (at most 5 s) for the connection at boot, so the first requests and ticks find it up. */
  async onModuleInit() {
    if (this.connection.status === 'ready') return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 5_000);
      this.connection.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /**
   * A cluster's queue. Throws StoreUnavailable (an outage: 503 naming Redis) while the connection is down: BullMQ
   * would otherwise wait for it to come back, and the caller with it.
   */
  queue(clusterId: string, name: (typeof QUEUES)[keyof typeof QUEUES] = QUEUES.refresh): Queue {
    if (this.connection.status !== 'ready') throw new StoreUnavailable('redis', `the refresh queue's connection to Redis is ${this.connection.status}`);
    const key = `${clusterId}:${name}`;
    let q = this.queues.get(key);
    if (!q) {
      q = new Queue(name, { connection: this.connection, prefix: clusterKeys(this.config.REDIS_PREFIX, clusterId).bullPrefix });
      q.on('error', () => undefined);
      this.queues.set(key, q);
    }
    return q;
  }

  /**
   * Carries a refresh to the instance that hands it to a member; the job id is the refresh id, so queueing twice is
   * harmless. A refresh scheduled for later waits in BullMQ's delayed set until then (see SchedulerService). The
   * retry policy is not BullMQ's: RefreshLifecycle keeps it in PostgreSQL, where abandoned attempts count too.
   */
  async addRefresh(clusterId: string, refreshId: string, dataSourceId: string | null, runAt?: Date | null) {
    const delay = runAt ? runAt.getTime() - Date.now() : 0;
    return this.queue(clusterId, QUEUES.refresh).add('refresh', { refreshId, dataSourceId }, {
      jobId: refreshId,
      ...(delay > 0 ? { delay } : {}),
      priority: 10,
      removeOnComplete: { count: 1000 },
      removeOnFail: { count: 1000 },
    });
  }

  /** Drops a cluster's queue and its keys (cluster deletion). */
  async obliterate(clusterId: string) {
    for (const name of Object.values(QUEUES)) {
      const q = this.queue(clusterId, name);
      await q.obliterate({ force: true });
      await q.close();
      this.queues.delete(`${clusterId}:${name}`);
    }
  }

  async onModuleDestroy() {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    this.connection.disconnect();
  }
}
