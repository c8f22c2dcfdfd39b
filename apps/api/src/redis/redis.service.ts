import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { Redis } from 'ioredis';
import { CONFIG, type Config } from '../config/config';

const BOOT_WAIT_MS = 5_000;

/** The API's Redis connection. Every key goes under the deployment's prefix. */
@Injectable()
export class RedisService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(RedisService.name);
  readonly client: Redis;
  readonly prefix: string;

  constructor(@Inject(CONFIG) config: Config) {
    this.prefix = config.REDIS_PREFIX;
    this.client = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: false });
    // Errors surface through health and the calls that fail; without a listener ioredis would crash the process.
    this.client.on('error', () => undefined);
  }

  /**
   * The API takes requests once its Redis connection is ready (a request a moment earlier would fail on it: the
   * client queues nothing), or after a bounded wait when Redis is down at boot.
   */
  async onModuleInit() {
    if (this.client.status === 'ready') return;
    const ready = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), BOOT_WAIT_MS);
      this.client.once('ready', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    if (!ready) this.logger.warn(`Redis is not reachable ${BOOT_WAIT_MS} ms after start: starting without it; what needs it fails until it is back`);
  }

  key(...parts: string[]) {
    return [this.prefix, ...parts].join(':');
  }

  async onModuleDestroy() {
    this.client.disconnect();
  }
}
