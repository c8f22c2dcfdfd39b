import { Cluster, Redis, type RedisOptions } from 'ioredis';
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

/** A connection to one Redis (or the master of a Sentinel group), or to a Redis Cluster. */
export type RedisConnection = Redis | Cluster;

/**
 * A connection to the control plane's Redis, as configured: REDIS_URL (one node); REDIS_SENTINELS with
 * REDIS_SENTINEL_NAME (the master the sentinels name, found again after a failover; the password and database of
 * REDIS_URL apply to it); or REDIS_CLUSTER_NODES (a Redis Cluster: every key of one gateway cluster shares its
 * {clusterId} hash tag, every key of one API instance its {instanceId}, so no command spans slots). Every
 * connection of the API is made here.
 */
export function connectRedis(config: Config, options: RedisOptions = {}): RedisConnection {
  const url = new URL(config.REDIS_URL);
  const auth = url.password ? { password: decodeURIComponent(url.password), username: url.username ? decodeURIComponent(url.username) : undefined } : {};
  if (config.REDIS_CLUSTER_NODES) {
    const { lazyConnect, enableOfflineQueue, ...redisOptions } = options;
    return new Cluster(parseHostPorts(config.REDIS_CLUSTER_NODES), { lazyConnect, enableOfflineQueue: enableOfflineQueue ?? true, redisOptions: { ...auth, ...redisOptions } });
  }
  if (!config.REDIS_SENTINELS) return new Redis(config.REDIS_URL, options);
  return new Redis({
    sentinels: parseHostPorts(config.REDIS_SENTINELS),
    name: config.REDIS_SENTINEL_NAME,
    // Told of a failover by the sentinels at once, rather than when the old master stops answering.
    failoverDetector: true,
    ...auth,
    ...(url.pathname.length > 1 ? { db: Number(url.pathname.slice(1)) } : {}),
    ...options,
  });
}

/** Every master of the connection (one, unless it is a Redis Cluster): for commands that act on one node, like SCAN. */
export const masters = (c: RedisConnection): Redis[] => (c instanceof Cluster ? c.nodes('master') : [c]);
