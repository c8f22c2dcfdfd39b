import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { CONFIG, type Config } from '../config/config';
import { connectRedis, type RedisConnection } from './connect';

const BOOT_WAIT_MS = 5_000;

/** The API's Redis connection. Every key goes under the deployment's prefix. */
@Injectable()
export class RedisService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(RedisService.name);
  readonly client: RedisConnection;
  readonly prefix: string;

  constructor(@Inject(CONFIG) config: Config) {
    this.prefix = config.REDIS_PREFIX;
    this.client = connectRedis(config, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: false });
    // Errors surface through health and the calls that fail; without a listener ioredis would crash the process.
    this.client.on('error', () => undefined);
  }

  /**
   * The API takes requests once its Redis connection is ready (a request a moment earlier would fail on it: the
   * client queues nothing), or after a bounded wait when Redis is down at boot.
   */
  async onModuleInit() {
    if (this.client.status === 'ready') return this.checkEviction();
    const ready = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), BOOT_WAIT_MS);
      this.client.once('ready', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    if (!ready) this.logger.warn(`Redis is not reachable ${BOOT_WAIT_MS} ms after start: starting without it; what needs it fails until it is back`);
    else await this.checkEviction();
  }

  /** BullMQ's production rule: RedisConnection must never evict keys (a lost job key loses a refresh). Said once at boot. */
  private async checkEviction() {
    const reply = (await this.client.config('GET', 'maxmemory-policy').catch(() => null)) as string[] | null;
    const policy = reply?.[1];
    if (policy && policy !== 'noeviction') this.logger.warn(`Redis maxmemory-policy is ${policy}: set it to noeviction (CONFIG SET maxmemory-policy noeviction, or in redis.conf), or Redis may evict queue keys under memory pressure and lose refreshes`);
  }

  key(...parts: string[]) {
    return [this.prefix, ...parts].join(':');
  }

  async onModuleDestroy() {
    this.client.disconnect();
  }
}
