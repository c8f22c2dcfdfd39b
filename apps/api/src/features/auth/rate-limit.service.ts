import { Injectable, Logger } from '@nestjs/common';
import { ApiError } from '../../infra/http/errors';
import { outageOf } from '../../infra/http/outage';
import { RedisService } from '../../infra/redis/redis.service';

type Limit = { key: string; max: number };

/**
 * Sign-in attempts counted in Redis (so every API instance shares the count): too many failures for one
 * email, or from one address, lock sign-in for that key until the window ends. While Redis is out of reach,
 * sign-in keeps working: the counts are kept by this instance alone (said once in the log), so each instance
 * allows at most its own limit, and the shared count resumes when Redis is back.
 */
@Injectable()
export class RateLimitService {
  static readonly WINDOW_S = 15 * 60;
  static readonly MAX_PER_EMAIL = 10;
  static readonly MAX_PER_ADDRESS = 50;
  private readonly logger = new Logger(RateLimitService.name);
  private readonly local = new Map<string, { count: number; until: number }>();
  private degraded = false;

  constructor(private readonly redis: RedisService) {}

  private keys(email: string, address: string): Limit[] {
    return [
      { key: this.redis.key('ratelimit', 'login', 'email', email), max: RateLimitService.MAX_PER_EMAIL },
      { key: this.redis.key('ratelimit', 'login', 'ip', address), max: RateLimitService.MAX_PER_ADDRESS },
    ];
  }

  /** Runs `shared` against Redis; on an outage, `alone` against this instance's counts instead. */
  private async either<T>(shared: () => Promise<T>, alone: () => T): Promise<T> {
    try {
      const result = await shared();
      if (this.degraded) {
        this.degraded = false;
        this.logger.log('the queue store (Redis) is back: sign-in limits are shared by every instance again');
      }
      return result;
    } catch (e) {
      if (outageOf(e) !== 'redis') throw e;
      if (!this.degraded) {
        this.degraded = true;
        this.logger.warn('the queue store (Redis) is unreachable: sign-in limits are counted by this API instance alone until it is back');
      }
      return alone();
    }
  }

  private localCount(key: string) {
    const e = this.local.get(key);
    if (!e || e.until <= Date.now()) return { count: 0, ttlS: 0 };
    return { count: e.count, ttlS: Math.ceil((e.until - Date.now()) / 1000) };
  }

  async assertAllowed(email: string, address: string) {
    for (const { key, max } of this.keys(email, address)) {
      const { count, ttlS } = await this.either(
        async () => {
          const [c, ttl] = await Promise.all([this.redis.client.get(key), this.redis.client.ttl(key)]);
          return { count: Number(c ?? 0), ttlS: ttl };
        },
        () => this.localCount(key),
      );
      if (count >= max) {
        const wait = Math.max(ttlS, 1);
        throw new ApiError(429, `too many failed sign-ins: try again in ${Math.ceil(wait / 60)} minute(s)`);
      }
    }
  }

  async failed(email: string, address: string) {
    const limits = this.keys(email, address);
    await this.either(
      async () => {
        // One transaction per key: the email's and the address's keys may sit in different Redis Cluster slots.
        await Promise.all(limits.map(({ key }) => this.redis.client.multi().incr(key).expire(key, RateLimitService.WINDOW_S, 'NX').exec()));
      },
      () => {
        if (this.local.size > 10_000) for (const [k, e] of this.local) if (e.until <= Date.now()) this.local.delete(k);
        for (const { key } of limits) {
          const now = this.localCount(key);
          this.local.set(key, { count: now.count + 1, until: now.count ? this.local.get(key)!.until : Date.now() + RateLimitService.WINDOW_S * 1000 });
        }
      },
    );
  }

  async succeeded(email: string) {
    const key = this.redis.key('ratelimit', 'login', 'email', email);
    await this.either(
      async () => void (await this.redis.client.del(key)),
      () => void this.local.delete(key),
    );
  }
}
