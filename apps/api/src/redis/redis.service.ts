import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { Redis } from 'ioredis';
import { CONFIG, type Config } from '../config/config';

/** The API's Redis connection. Every key goes under the deployment's prefix. */
@Injectable()
export class RedisService implements OnModuleDestroy {
  readonly client: Redis;
  readonly prefix: string;

  constructor(@Inject(CONFIG) config: Config) {
    this.prefix = config.REDIS_PREFIX;
    this.client = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: false });
    // Errors surface through health and the calls that fail; without a listener ioredis would crash the process.
    this.client.on('error', () => undefined);
  }

  key(...parts: string[]) {
    return [this.prefix, ...parts].join(':');
  }

  async onModuleDestroy() {
    this.client.disconnect();
  }
}
