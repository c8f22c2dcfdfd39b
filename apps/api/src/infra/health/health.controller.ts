import { Controller, Get, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';

import { PrismaService } from '../database/prisma.service';
import { RedisService } from '../redis/redis.service';
import { Endpoint } from '../http/endpoint';
import { Health, VERSION } from '@gateway/domain';

async function probe(fn: () => Promise<unknown>) {
  const started = performance.now();
  try {
    await Promise.race([fn(), new Promise((_, reject) => setTimeout(() => reject(new Error('timed out after 2 s')), 2000).unref())]);
    return { status: 'up' as const, latencyMs: Math.round((performance.now() - started) * 10) / 10 };
  } catch (e) {
    return { status: 'down' as const, error: (e as Error).message };
  }
}

@Controller('health')
export class HealthController {
  constructor(
    private readonly prisma: PrismaService,
    private readonly redis: RedisService,
  ) {}

  @Get()
  @Endpoint({ operationId: 'getHealth', tag: 'health', summary: 'Whether the API reaches PostgreSQL and Redis (503 when it does not)', auth: 'public', response: Health, errors: [503] })
  async health(@Res({ passthrough: true }) reply: FastifyReply): Promise<Health> {
    const [database, redis] = await Promise.all([probe(() => this.prisma.$queryRaw`SELECT 1`), probe(() => this.redis.client.ping())]);
    const ok = database.status === 'up' && redis.status === 'up';
    if (!ok) void reply.status(503);
    return { status: ok ? 'ok' : 'degraded', version: VERSION, database, redis };
  }
}
