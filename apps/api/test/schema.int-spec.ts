import { PrismaPg } from '@prisma/adapter-pg';
import { Prisma, PrismaClient } from '../src/generated/prisma/client';
import type { TestDatabase } from '@gateway/testing';
import { createMigratedDatabase } from './support/test-env';

/**
 * Exercises every model of the Prisma schema through Prisma Client against a database migrated by our
 * SQL runner: if schema.prisma and the migrations drift apart, a create, read or update here fails.
 */
let db: TestDatabase;
let prisma: PrismaClient;

beforeAll(async () => {
  db = await createMigratedDatabase();
  prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: db.url }) });
});

afterAll(async () => {
  await prisma?.$disconnect();
  await db?.drop();
});

const envelope = { v: 1, kdf: { alg: 'argon2id', memoryKiB: 65536, iterations: 3, parallelism: 1, salt: 'AA==' }, cipher: 'aes-256-gcm', iv: 'AA==', tag: 'AA==', ciphertext: 'AA==' };

describe('the migrated database matches schema.prisma', () => {
  const exercised = new Set<string>();

  it('round-trips every model with every field', async () => {
    const user = await prisma.user.create({ data: { email: 'schema@example.com', passwordHash: 'h', scramVerifier: 'SCRAM-SHA-256$4096:c2FsdA==$a:b' } });
    exercised.add('User');
    const session = await prisma.session.create({ data: { userId: user.id, tokenHash: 't1', expiresAt: new Date(Date.now() + 1000) } });
    await prisma.session.update({ where: { id: session.id }, data: { revokedAt: new Date() } });
    exercised.add('Session');
    const cluster = await prisma.cluster.create({
      data: { name: 'c', description: 'd', contact: 'x', publicKey: 'pk', keyEnvelope: envelope, ownerId: user.id, routingMode: 'distribute', cpuThreshold: 90, memoryThreshold: 80 },
    });
    expect(cluster.updatedAt).toBeInstanceOf(Date);
    expect(cluster.keyEnvelope).toEqual(envelope);
    exercised.add('Cluster');
    const a = await prisma.member.create({ data: { clusterId: cluster.id, name: 'a', hostName: 'h', agentVersion: '1', isPrimary: true, publicKey: 'pk' } });
    const b = await prisma.member.create({ data: { clusterId: cluster.id, name: 'b', hostName: 'h', agentVersion: '1', enabled: false, publicKey: 'pk' } });
    expect(b.joinOrder).toBeGreaterThan(a.joinOrder);
    exercised.add('Member');
    const challenge = await prisma.challenge.create({ data: { purpose: 'join', clusterId: cluster.id, memberId: a.id, nonce: 'n', expiresAt: new Date() } });
    await prisma.challenge.update({ where: { id: challenge.id }, data: { usedAt: new Date() } });
    exercised.add('Challenge');
    await prisma.memberSession.create({ data: { memberId: a.id, tokenHash: 'm1', expiresAt: new Date() } });
    exercised.add('MemberSession');
    const drained = await prisma.member.update({ where: { id: b.id }, data: { description: 'standby', drainRequestedAt: new Date(), boxPublicKey: 'box', pendingClusterKey: { v: 1 }, pendingKeyGeneration: 2 } });
    expect(drained).toMatchObject({ boxPublicKey: 'box', pendingClusterKey: { v: 1 }, pendingKeyGeneration: 2 });
    expect(drained.drainRequestedAt).toBeInstanceOf(Date);
    expect((await prisma.cluster.update({ where: { id: cluster.id }, data: { keyGeneration: { increment: 1 } } })).keyGeneration).toBe(2);
    const ds = await prisma.dataSource.create({ data: { clusterId: cluster.id, name: 'pg', type: 'postgres', connection: { host: 'h', port: 5432, database: 'd' }, credentials: { v: 1 } } });
    const moved = await prisma.dataSource.update({ where: { id: ds.id }, data: { connection: { path: '/x' }, credentials: Prisma.DbNull } });
    expect(moved.credentials).toBeNull();
    expect(moved.updatedAt.getTime()).toBeGreaterThanOrEqual(ds.updatedAt.getTime());
    await expect(prisma.dataSource.create({ data: { clusterId: cluster.id, name: 'pg', type: 'mysql', connection: {} } })).rejects.toMatchObject({ code: 'P2002' });
    exercised.add('DataSource');
    await prisma.clusterRole.create({ data: { clusterId: cluster.id, userId: user.id, role: 'admin' } });
    exercised.add('ClusterRole');
    await prisma.dataSourceUser.create({ data: { dataSourceId: ds.id, userId: user.id } });
    exercised.add('DataSourceUser');
    await prisma.auditEvent.create({ data: { clusterId: cluster.id, actorId: user.id, actorEmail: user.email, action: 'x', targetType: 'cluster', targetId: cluster.id, detail: { a: 1 } } });
    await prisma.auditEvent.create({ data: { actorEmail: 'system', action: 'y', targetType: 'user' } });
    exercised.add('AuditEvent');
    const dataset = await prisma.dataset.create({ data: { clusterId: cluster.id, dataSourceId: ds.id, name: 'daily', query: 'SELECT 1', cron: '0 6 * * *', timezone: 'Europe/Paris', nextRunAt: new Date() } });
    exercised.add('Dataset');
    const refresh = await prisma.refresh.create({ data: { datasetId: dataset.id, status: 'queued', trigger: 'schedule', scheduledFor: new Date(0), columns: [{ name: 'x' }] } });
    await expect(prisma.refresh.create({ data: { datasetId: dataset.id, status: 'queued', trigger: 'schedule', scheduledFor: new Date(0) } })).rejects.toMatchObject({ code: 'P2002' });
    await prisma.refresh.update({ where: { id: refresh.id }, data: { rows: { increment: 5_000_000_000n }, bytes: 10n, snapshotAttempt: 1 } });
    exercised.add('Refresh');
    await prisma.refreshAttempt.create({ data: { refreshId: refresh.id, number: 1, memberId: a.id, memberName: 'a', reason: 'primary', status: 'running' } });
    exercised.add('RefreshAttempt');
    await prisma.snapshotChunk.create({ data: { refreshId: refresh.id, attempt: 1, seq: 0, rows: 1, bytes: 3, format: 'pgcopy', encoding: 'br', data: new Uint8Array([1, 2, 3]) } });
    exercised.add('SnapshotChunk');
    const back = await prisma.refresh.findUniqueOrThrow({ where: { id: refresh.id }, include: { attempts: true, chunks: true, dataset: { include: { dataSource: true } } } });
    expect(back.rows).toBe(5_000_000_000n);
    expect(Buffer.from(back.chunks[0].data)).toEqual(Buffer.from([1, 2, 3]));
    expect(back.dataset.dataSource?.id).toBe(ds.id);
    const invited = await prisma.user.create({ data: { email: 'invited@example.com', inviteTokenHash: 'ih', inviteExpiresAt: new Date() } });
    expect(invited.passwordHash).toBeNull();
    await prisma.session.create({ data: { userId: user.id, kind: 'pat', name: 'ci', tokenHash: 't2', expiresAt: new Date(), lastUsedAt: new Date() } });

    const full = await prisma.cluster.findUniqueOrThrow({ where: { id: cluster.id }, include: { members: { include: { sessions: true } }, challenges: true, dataSources: { include: { users: true } }, roles: { include: { user: true } }, owner: { include: { sessions: true } } } });
    expect(full.roles[0].user.email).toBe('schema@example.com');
    expect(full.dataSources[0].users).toHaveLength(1);
    expect(full.owner.sessions.find((x) => x.kind === 'pat')?.name).toBe('ci');
    expect(full.members).toHaveLength(2);
    expect(full.members.find((m) => m.name === 'b')!.description).toBe('standby');
    expect(full.dataSources).toHaveLength(1);
    expect(full.members.find((m) => m.name === 'a')!.sessions).toHaveLength(1);
    expect(full.owner.sessions.find((x) => x.kind === 'session')!.revokedAt).toBeInstanceOf(Date);
    expect(full.challenges[0].usedAt).toBeInstanceOf(Date);

    // Deleting a cluster cascades to its members, their sessions and its challenges.
    await prisma.cluster.delete({ where: { id: cluster.id } });
    expect(await prisma.member.count()).toBe(0);
    expect(await prisma.memberSession.count()).toBe(0);
    expect(await prisma.challenge.count()).toBe(0);
    expect(await prisma.dataSource.count()).toBe(0);
    expect(await prisma.dataset.count()).toBe(0);
    expect(await prisma.snapshotChunk.count()).toBe(0);
    expect(await prisma.clusterRole.count()).toBe(0);
    expect(await prisma.dataSourceUser.count()).toBe(0);
    // The audit log outlives its cluster.
    expect(await prisma.auditEvent.count()).toBe(2);
  });

  it('enforces one primary per cluster (an index the Prisma schema cannot express)', async () => {
    const user = await prisma.user.create({ data: { email: 'p@example.com', passwordHash: 'h' } });
    const cluster = await prisma.cluster.create({ data: { name: 'p', publicKey: 'pk', keyEnvelope: envelope, ownerId: user.id } });
    await prisma.member.create({ data: { clusterId: cluster.id, name: 'a', hostName: 'h', agentVersion: '1', isPrimary: true, publicKey: 'pk' } });
    await expect(
      prisma.member.create({ data: { clusterId: cluster.id, name: 'b', hostName: 'h', agentVersion: '1', isPrimary: true, publicKey: 'pk' } }),
    ).rejects.toMatchObject({ code: 'P2002' });
  });

  it('stores snapshot chunks without compressing them again (a storage setting the Prisma schema cannot express)', async () => {
    const [col] = await prisma.$queryRaw<{ attstorage: string }[]>`
      SELECT attstorage::text FROM pg_attribute WHERE attrelid = '"SnapshotChunk"'::regclass AND attname = 'data'`;
    expect(col.attstorage).toBe('e');
    const user = await prisma.user.create({ data: { email: 'chunk@example.com', passwordHash: 'h' } });
    const cluster = await prisma.cluster.create({ data: { name: 'chunks', publicKey: 'pk', keyEnvelope: envelope, ownerId: user.id } });
    const dataset = await prisma.dataset.create({ data: { clusterId: cluster.id, name: 'd', query: 'SELECT 1' } });
    const refresh = await prisma.refresh.create({ data: { datasetId: dataset.id, status: 'running', trigger: 'manual' } });
    // 1 MB that pglz would shrink to almost nothing: stored out of line at its full size all the same.
    const data = Buffer.alloc(1 << 20, 'a');
    await prisma.snapshotChunk.create({ data: { refreshId: refresh.id, attempt: 1, seq: 0, rows: 1, bytes: data.length, format: 'pgcopy', encoding: 'br', data } });
    const [stored] = await prisma.$queryRaw<{ method: string | null; size: number }[]>`
      SELECT pg_column_compression(data) AS method, pg_column_size(data) AS size FROM "SnapshotChunk" WHERE "refreshId" = ${refresh.id}::uuid`;
    expect(stored.method).toBeNull();
    expect(stored.size).toBeGreaterThanOrEqual(data.length);
    await prisma.cluster.delete({ where: { id: cluster.id } });
  });

  it('covered every model the schema declares', () => {
    expect([...exercised].sort()).toEqual(Object.values(Prisma.ModelName).sort());
  });
});
