import { Redis } from 'ioredis';
import { uniqueSuffix } from './unique';

export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A Redis key prefix of this test's own (`gwtest-*`); `dropRedisPrefix()` it afterwards. */
export const testRedisPrefix = () => `gwtest-${uniqueSuffix()}`;

/** Deletes every key under `prefix` and every ACL user named `<prefix>-*` (the API makes one per cluster). */
export async function dropRedisPrefix(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  try {
    const users = (await redis.call('ACL', 'USERS')) as string[];
    for (const u of users.filter((u) => u.startsWith(`${prefix}-`))) await redis.call('ACL', 'DELUSER', u);
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (keys.length) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** Every key under a prefix with its value(s), as text, for secret scans. */
export async function dumpRedis(prefix: string): Promise<string> {
  const redis = new Redis(REDIS_URL);
  const parts: string[] = [];
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      for (const key of keys) {
        const type = await redis.type(key);
        parts.push(key);
        if (type === 'string') parts.push((await redis.get(key)) ?? '');
        else if (type === 'hash') parts.push(JSON.stringify(await redis.hgetall(key)));
        else if (type === 'list') parts.push(JSON.stringify(await redis.lrange(key, 0, -1)));
        else if (type === 'set') parts.push(JSON.stringify(await redis.smembers(key)));
        else if (type === 'zset') parts.push(JSON.stringify(await redis.zrange(key, 0, -1, 'WITHSCORES')));
        else if (type === 'stream') parts.push(JSON.stringify(await redis.xrange(key, '-', '+')));
      }
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return parts.join('\n');
}
