import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { clusterKeys, QUEUES } from '@gateway/domain';
import type { Config } from '../src/infra/config/config';
import { PrismaService } from '../src/infra/database/prisma.service';
import { RefreshQueueService } from '../src/infra/queue/refresh-queue.service';
import { RefreshLifecycle } from '../src/features/refreshes/refresh-lifecycle.service';
import { dropRedisPrefix, REDIS_URL, testRedisPrefix, type TestDatabase } from '@gateway/testing';
import { createMigratedDatabase } from './support/test-env';

/**
 * The one owner of a refresh's life, against a real PostgreSQL and a real BullMQ queue: every attempt counts toward
 * the retry policy, abandoned ones included, each says why it ended, and late reports change nothing.
 */
let db: TestDatabase;
let prisma: PrismaService;
let queues: RefreshQueueService;
let life: RefreshLifecycle;
const prefix = testRedisPrefix();
let clusterId: string;
let members: { a: string; b: string };

beforeAll(async () => {
  db = await createMigratedDatabase();
  const config = { DATABASE_URL: db.url, REDIS_URL, REDIS_PREFIX: prefix } as Config;
  prisma = new PrismaService(config);
  queues = new RefreshQueueService(config);
  await queues.onModuleInit();
  life = new RefreshLifecycle(prisma, queues);
  const user = await prisma.user.create({ data: { email: 'life@example.com', passwordHash: 'h' } });
  const cluster = await prisma.cluster.create({ data: { name: 'c', publicKey: 'pk', keyEnvelope: {}, ownerId: user.id } });
  clusterId = cluster.id;
  const a = await prisma.member.create({ data: { clusterId, name: 'a', hostName: 'h', agentVersion: '1', isPrimary: true, publicKey: 'pk' } });
  const b = await prisma.member.create({ data: { clusterId, name: 'b', hostName: 'h', agentVersion: '1', publicKey: 'pk' } });
  members = { a: a.id, b: b.id };
});

afterAll(async () => {
  await queues?.onModuleDestroy();
  await prisma?.onModuleDestroy();
  await db?.drop();
  await dropRedisPrefix(prefix);
});

let n = 0;
async function dataset(retryAttempts: number, retryBackoffMs = 100) {
  const ds = await prisma.dataset.create({ data: { clusterId, name: `d${n++}`, query: 'SELECT 1', retryAttempts, retryBackoffMs } });
  return { id: ds.id, clusterId, dataSourceId: null };
}
const history = (id: string) => prisma.refresh.findUniqueOrThrow({ where: { id }, include: { attempts: { orderBy: { number: 'asc' } } } });
const opened = (r: Awaited<ReturnType<RefreshLifecycle['openAttempt']>>) => {
  if (!r || !('attempt' in r)) throw new Error(`no attempt opened: ${JSON.stringify(r)}`);
  return r.attempt;
};

describe('RefreshLifecycle', () => {
  it('counts abandoned attempts: a member lost on every attempt ends the refresh failed after exactly `attempts`, each with its reason', async () => {
    const d = await dataset(3);
    const r = await life.queueNow(d, 'life@example.com');
    expect(r.status).toBe('queued');
    const queue = queues.queue(clusterId, QUEUES.refresh);
    expect(await queue.getJobState(r.id)).toBe('prioritized'); // waiting, behind nothing of higher priority
    for (const [i, m] of (['a', 'b', 'a'] as const).entries()) {
      expect(opened(await life.openAttempt(r.id, members[m], m, 'primary'))).toBe(i + 1);
      expect((await history(r.id)).status).toBe('running');
      const step = await life.attemptEnded(r.id, { memberId: members[m], status: 'abandoned', error: `member ${m} was lost while running it: killed` });
      expect(step).toEqual(i < 2 ? { next: 'retry', delayMs: 10 } : { next: 'none', status: 'failed' });
    }
    const done = await history(r.id);
    expect(done.status).toBe('failed');
    expect(done.finishedAt).toBeInstanceOf(Date);
    expect(done.error).toBe('all 3 attempts the retry policy allows ended without a snapshot; the last: member a was lost while running it: killed');
    expect(done.attempts.map((x) => [x.number, x.memberName, x.status, x.error])).toEqual([
      [1, 'a', 'abandoned', 'member a was lost while running it: killed'],
      [2, 'b', 'abandoned', 'member b was lost while running it: killed'],
      [3, 'a', 'abandoned', 'member a was lost while running it: killed'],
    ]);
    // No fourth attempt, whoever asks.
    expect(await life.openAttempt(r.id, members.b, 'b', 'primary')).toBeNull();
    expect((await history(r.id)).attempts).toHaveLength(3);
  });

  it('counts attempts abandoned without a word (the instance holding the job died): the next start finds the policy spent', async () => {
    const d = await dataset(2);
    const r = await life.queueNow(d, 'x');
    opened(await life.openAttempt(r.id, members.a, 'a', 'primary'));
    // Its instance died: the job stalled and another instance handed it out again.
    opened(await life.openAttempt(r.id, members.b, 'b', 'primary a is offline'));
    expect(await life.openAttempt(r.id, members.a, 'a', 'primary')).toEqual({ spent: 2 });
    const done = await history(r.id);
    expect(done.status).toBe('failed');
    expect(done.error).toMatch(/^all 2 attempts the retry policy allows ended without a snapshot; the last: the member stopped answering/);
    expect(done.attempts.map((x) => [x.status, x.error])).toEqual([
      ['abandoned', 'the member stopped answering; the refresh moved to another attempt'],
      ['abandoned', 'the member stopped answering; the refresh moved to another attempt'],
    ]);
  });

  it('retries a failed attempt after the backoff, doubling, until the policy is spent; a permanent error fails at once', async () => {
    const d = await dataset(3, 100);
    const r = await life.queueNow(d, 'x');
    const delays: unknown[] = [];
    for (let i = 1; i <= 3; i++) {
      const attempt = opened(await life.openAttempt(r.id, members.a, 'a', 'primary'));
      delays.push(await life.attemptEnded(r.id, { attempt, memberId: members.a, status: 'failed', error: `connection refused (${i})` }));
      if (i < 3) expect((await history(r.id)).status).toBe('queued');
    }
    expect(delays).toEqual([{ next: 'retry', delayMs: 100 }, { next: 'retry', delayMs: 200 }, { next: 'none', status: 'failed' }]);
    expect((await history(r.id)).error).toBe('all 3 attempts the retry policy allows ended without a snapshot; the last: connection refused (3)');

    const p = await life.queueNow(d, 'x');
    const attempt = opened(await life.openAttempt(p.id, members.a, 'a', 'primary'));
    expect(await life.attemptEnded(p.id, { attempt, memberId: members.a, status: 'failed', error: 'syntax error at or near "SELEC"', permanent: true })).toEqual({ next: 'none', status: 'failed' });
    expect(await history(p.id)).toMatchObject({ status: 'failed', error: 'syntax error at or near "SELEC"', attempts: [expect.objectContaining({ status: 'failed' })] });
  });

  it('ignores a late report about an attempt that was superseded, and a second report about one that ended', async () => {
    const d = await dataset(3);
    const r = await life.queueNow(d, 'x');
    opened(await life.openAttempt(r.id, members.a, 'a', 'primary'));
    expect(opened(await life.openAttempt(r.id, members.b, 'b', 'primary a is offline'))).toBe(2);
    // a wakes up and reports its failure: attempt 1 ended already (abandoned); attempt 2 runs on.
    await life.attemptEnded(r.id, { attempt: 1, memberId: members.a, status: 'failed', error: 'late' });
    const now = await history(r.id);
    expect(now.status).toBe('running');
    expect(now.attempts.map((x) => [x.status, x.error])).toEqual([
      ['abandoned', 'the member stopped answering; the refresh moved to another attempt'],
      ['running', null],
    ]);
    await life.attemptEnded(r.id, { attempt: 2, memberId: members.b, status: 'failed', error: 'once' });
    await life.attemptEnded(r.id, { attempt: 2, memberId: members.b, status: 'failed', error: 'twice' });
    const after = await history(r.id);
    expect(after.status).toBe('queued');
    expect(after.attempts[1]).toMatchObject({ status: 'failed', error: 'once' });
    // The member lost is not the one running: nothing is abandoned.
    opened(await life.openAttempt(r.id, members.a, 'a', 'primary'));
    await life.attemptEnded(r.id, { memberId: members.b, status: 'abandoned', error: 'b lost' });
    expect((await history(r.id)).attempts[2].status).toBe('running');
  });

  it('cancels a queued refresh at once (its job leaves the queue) and asks a running one to stop', async () => {
    const d = await dataset(3);
    const queue = queues.queue(clusterId, QUEUES.refresh);
    const q = await life.queueNow(d, 'x');
    expect(await life.cancel(q.id, clusterId, 'admin@example.com')).toBe('cancelled');
    expect(await history(q.id)).toMatchObject({ status: 'cancelled', error: 'cancelled by admin@example.com', cancelRequested: true });
    expect(await queue.getJobState(q.id)).toBe('unknown');
    expect(await life.cancel(q.id, clusterId, 'admin@example.com')).toBe('ended');

    const run = await life.queueNow(d, 'x');
    const attempt = opened(await life.openAttempt(run.id, members.a, 'a', 'primary'));
    expect(await life.cancel(run.id, clusterId, 'admin@example.com')).toBe('requested');
    expect((await history(run.id)).status).toBe('running');
    expect(await life.openAttempt(run.id, members.b, 'b', 'primary')).toBeNull();
    await life.attemptStopped(run.id, attempt, true);
    expect(await history(run.id)).toMatchObject({ status: 'cancelled', attempts: [expect.objectContaining({ status: 'cancelled', error: 'cancelled while running' })] });
  });

  it('writes a schedule tick once, held by the queue until the tick', async () => {
    const d = await dataset(1);
    const tick = new Date(Date.now() + 60_000);
    const first = await life.queueTick(d, tick);
    expect(first).not.toBeNull();
    expect(await life.queueTick(d, tick)).toBeNull();
    const queue = queues.queue(clusterId, QUEUES.refresh);
    expect(await queue.getJobState(first!.id)).toBe('delayed');
    await life.withdrawStaged(d.id, clusterId);
    expect(await prisma.refresh.findUnique({ where: { id: first!.id } })).toBeNull();
    expect(await queue.getJobState(first!.id)).toBe('unknown');
    expect(clusterKeys(prefix, clusterId).bullPrefix).toContain(clusterId);
  });

  it('the database refuses a status outside the enums', async () => {
    const d = await dataset(1);
    await expect(prisma.$executeRawUnsafe(`INSERT INTO "Refresh" (id, "datasetId", status, trigger) VALUES (gen_random_uuid(), $1::uuid, 'done', 'manual')`, d.id)).rejects.toThrow(/invalid input value for enum "RefreshStatus"/);
  });
});

describe('one owner', () => {
  it('no file of the API but the lifecycle writes a refresh or attempt status', () => {
    const root = join(__dirname, '..', 'src');
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const p = join(dir, name);
        if (name === 'generated') continue;
        if (statSync(p).isDirectory()) walk(p);
        else if (p.endsWith('.ts') && !p.endsWith('.spec.ts')) files.push(p);
      }
    };
    walk(root);
    const writes = [
      /\b(refresh|refreshAttempt)\.(create|createMany|update|updateMany|upsert)\(\s*\{[^;]*?\bdata\s*:\s*\{[^}]*\bstatus\s*:/s,
      /UPDATE\s+"Refresh(Attempt)?"\s+SET\s+((?!WHERE)[^;])*?\bstatus\s*=/s,
      /INSERT\s+INTO\s+"Refresh(Attempt)?"/s,
    ];
    const offenders = files.filter((f) => !f.endsWith('refresh-lifecycle.service.ts') && writes.some((re) => re.test(readFileSync(f, 'utf8')))).map((f) => relative(root, f));
    expect(offenders).toEqual([]);
    // The check finds what it looks for.
    expect(writes.some((re) => re.test(readFileSync(join(root, 'features', 'refreshes', 'refresh-lifecycle.service.ts'), 'utf8')))).toBe(true);
  });
});
