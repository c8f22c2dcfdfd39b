import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { clusterKeys, QUEUES, type JobName, type JobPayloads } from '@gateway/domain';
import { CONFIG, type Config } from '../config/config';

/** Producers for the clusters' live queues (one queue per cluster, under the cluster's hash tag). */
@Injectable()
export class LiveQueueService implements OnModuleDestroy {
  private readonly connection: Redis;
  private readonly queues = new Map<string, Queue>();

  constructor(@Inject(CONFIG) private readonly config: Config) {
    this.connection = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null });
    this.connection.on('error', () => undefined);
  }

  queue(clusterId: string): Queue {
    let q = this.queues.get(clusterId);
    if (!q) {
      q = new Queue(QUEUES.live, { connection: this.connection, prefix: clusterKeys(this.config.REDIS_PREFIX, clusterId).bullPrefix });
      this.queues.set(clusterId, q);
    }
    return q;
  }

  async add<N extends JobName>(clusterId: string, name: N, data: JobPayloads[N], jobId: string) {
    // Live work is not retried by BullMQ: the API retries it itself on the next server (see QueryService).
    return this.queue(clusterId).add(name, data, { jobId, attempts: 1, removeOnComplete: true, removeOnFail: { count: 100 } });
  }

  /** Removes a job that nobody started (the caller gave up on it). */
  async discard(clusterId: string, jobId: string) {
    await this.queue(clusterId).remove(jobId).catch(() => undefined);
  }

  /** Drops a cluster's queue and its keys (cluster deletion). */
  async obliterate(clusterId: string) {
    await this.queue(clusterId).obliterate({ force: true });
    await this.queue(clusterId).close();
    this.queues.delete(clusterId);
  }

  async onModuleDestroy() {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    this.connection.disconnect();
  }
}
