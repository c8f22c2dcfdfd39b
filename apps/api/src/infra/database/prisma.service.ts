import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import { PrismaPg } from '@prisma/adapter-pg';
import { Pool } from 'pg';
import { PrismaClient } from '../../generated/prisma/client';
import { CONFIG, type Config } from '../config/config';

@Injectable()
export class PrismaService extends PrismaClient implements OnModuleDestroy {
  /**
   * Snapshot chunk writes, the bulk of a refresh's bytes, go around Prisma (which would turn every chunk into a
   * base64 string and back) on connections that commit without waiting for the WAL flush. That is safe here:
   * a refresh succeeds only through `complete`, whose synchronous commit flushes the WAL up to and past every
   * chunk committed before it, and which succeeds only if every chunk the member uploaded is there (a crash may
   * lose acknowledged ones); otherwise the attempt runs again.
   */
  readonly chunkPool: Pool;

  constructor(@Inject(CONFIG) config: Config) {
    super({ adapter: new PrismaPg({ connectionString: config.DATABASE_URL, max: 10 }) });
    this.chunkPool = new Pool({ connectionString: config.DATABASE_URL, max: 4, options: '-c synchronous_commit=off', application_name: 'gateway-api-chunks' });
    this.chunkPool.on('error', () => undefined); // an idle connection dropped by the server; the next query reconnects
  }

  async onModuleDestroy() {
    await this.$disconnect();
    await this.chunkPool.end();
  }
}
