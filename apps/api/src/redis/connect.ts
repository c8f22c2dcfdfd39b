import { Redis, type RedisOptions } from 'ioredis';
import type { Config } from '../config/config';

/** host:port pairs, comma-separated (REDIS_SENTINELS). */
export function parseHostPorts(list: string): { host: string; port: number }[] {
  return list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const i = s.lastIndexOf(':');
      return { host: s.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(s.slice(i + 1)) };
    });
}

/**
 * A connection to the control plane's Redis, as configured: REDIS_URL (one node), or REDIS_SENTINELS with
 * REDIS_SENTINEL_NAME (the master the sentinels name, found again after a failover; the password and database of
 * REDIS_URL apply to it). Every connection of the API is made here, so each one follows a failover.
 */
export function connectRedis(config: Config, options: RedisOptions = {}): Redis {
  if (!config.REDIS_SENTINELS) return new Redis(config.REDIS_URL, options);
  const url = new URL(config.REDIS_URL);
  return new Redis({
    sentinels: parseHostPorts(config.REDIS_SENTINELS),
    name: config.REDIS_SENTINEL_NAME,
    // Told of a failover by the sentinels at once, rather than when the old master stops answering.
    failoverDetector: true,
    ...(url.password ? { password: decodeURIComponent(url.password), username: url.username ? decodeURIComponent(url.username) : undefined } : {}),
    ...(url.pathname.length > 1 ? { db: Number(url.pathname.slice(1)) } : {}),
    ...options,
  });
}
