import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Reply } from '@gateway/domain';
import { CONFIG, type Config } from '../config/config';

type Listener = (reply: Reply) => void;

/**
 * The low-latency reply path of live work: agents publish on `<prefix>:{cluster}:reply:<api instance>`,
 * and this instance routes each message to the request waiting for that job. One subscriber connection
 * per API instance, whatever the number of requests in flight.
 */
@Injectable()
export class ReplyBus implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(ReplyBus.name);
  readonly instanceId = randomUUID();
  private readonly subscriber: Redis;
  private readonly listeners = new Map<string, Listener>();

  constructor(@Inject(CONFIG) private readonly config: Config) {
    this.subscriber = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null });
    this.subscriber.on('error', () => undefined);
  }

  async onModuleInit() {
    this.subscriber.on('pmessage', (_pattern, _channel, message) => {
      let reply: Reply;
      try {
        reply = JSON.parse(message);
      } catch {
        this.logger.warn('ignored a reply that is not JSON');
        return;
      }
      this.listeners.get(reply.jobId)?.(reply);
    });
    await this.subscriber.psubscribe(`${this.config.REDIS_PREFIX}:{*}:reply:${this.instanceId}`);
  }

  listen(jobId: string, listener: Listener) {
    this.listeners.set(jobId, listener);
    return () => this.listeners.delete(jobId);
  }

  async onModuleDestroy() {
    this.subscriber.disconnect();
  }
}
