import { Injectable } from '@nestjs/common';
import { ApiError } from '../http/errors';
import { RedisService } from '../redis/redis.service';

/**
 * Sign-in attempts counted in Redis (so every API instance shares the count): too many failures for one
 * email, or from one address, lock sign-in for that key until the window ends.
 */
@Injectable()
export class RateLimitService {
  static readonly WINDOW_S = 15 * 60;
  static readonly MAX_PER_EMAIL = 10;
  static readonly MAX_PER_ADDRESS = 50;

  constructor(private readonly redis: RedisService) {}

  private keys(email: string, address: string) {
    return [
      { key: this.redis.key('ratelimit', 'login', 'email', email), max: RateLimitService.MAX_PER_EMAIL },
      { key: this.redis.key('ratelimit', 'login', 'ip', address), max: RateLimitService.MAX_PER_ADDRESS },
    ];
  }

  async assertAllowed(email: string, address: string) {
    for (const { key, max } of this.keys(email, address)) {
      const [count, ttl] = await Promise.all([this.redis.client.get(key), this.redis.client.ttl(key)]);
      if (Number(count ?? 0) >= max) {
        const wait = Math.max(ttl, 1);
        throw new ApiError(429, `too many failed sign-ins: try again in ${Math.ceil(wait / 60)} minute(s)`);
      }
    }
  }

  async failed(email: string, address: string) {
    const multi = this.redis.client.multi();
    for (const { key } of this.keys(email, address)) multi.incr(key).expire(key, RateLimitService.WINDOW_S, 'NX');
    await multi.exec();
  }

  async succeeded(email: string) {
    await this.redis.client.del(this.redis.key('ratelimit', 'login', 'email', email));
  }
}
