import { Inject, Injectable, Logger } from '@nestjs/common';
import { CONFIG, type Config } from '../../infra/config/config';
import { randomBytes } from 'node:crypto';
import {
  joinProofMessage,
  rotateRecoveryKeyMessage,
  rotateKeyMessage,
  SealedBox,
  type KeyRotationContext,
  type RotateKeyRequest,
  type RotateRecoveryKeyRequest,
  type CreateClusterRequest,
  type Installed,
  type JoinChallenge,
  type JoinCompleteRequest,
  type MemberRegistration,
  type MemberStatusView,
  type Role,
  type UpdateClusterRequest,
  KeyEnvelope,
  versionStanding,
} from '@gateway/domain';
import { publicKeyKind, rotateKeyDigest, verifyMessage } from '@gateway/domain/crypto';
import type { AuthUser } from '../../infra/http/principal';
import { PrismaService } from '../../infra/database/prisma.service';
import { Prisma } from '../../generated/prisma/client';
import { isUniqueViolation } from '../../infra/database/errors';
import { ApiError, badRequest, conflict, notFound, unauthorized } from '../../infra/http/errors';
import { toClusterView, toMemberView } from './views';
import { ClusterStateService } from '../../infra/cluster-state/cluster-state.service';
import { VersionedCache } from '../../infra/cluster-state/versioned-cache';
import { AccessService, visibleCluster } from '../access/access.service';
import { AuditService } from '../audit/audit.service';
import { RefreshQueueService } from '../../infra/queue/refresh-queue.service';
import { AgentAuthService } from '../agents/agent-auth.service';

const JOIN_CHALLENGE_TTL_MS = 5 * 60_000;

function checkMemberKey(member: MemberRegistration, field: string) {
  if (publicKeyKind(member.publicKey) !== 'ed25519') throw badRequest(`${field} must be an Ed25519 public key`, field);
}

@Injectable()
export class ClustersService {
  private readonly logger = new Logger(ClustersService.name);
  private readonly routable: VersionedCache<NonNullable<Awaited<ReturnType<ClustersService['loadWithMembers']>>>>;

  constructor(
    private readonly prisma: PrismaService,
    private readonly state: ClusterStateService,
    private readonly access: AccessService,
    private readonly audit: AuditService,
    private readonly queue: RefreshQueueService,
    @Inject(CONFIG) private readonly config: Config,
    private readonly agentAuth: AgentAuthService,
  ) {
    this.routable = new VersionedCache(state, (c) => c.id);
  }

  /** A new cluster with the installing host as its primary; its creator becomes its first admin. */
  async create(user: AuthUser, input: CreateClusterRequest): Promise<Installed> {
    if (publicKeyKind(input.publicKey) !== 'rsa') throw badRequest('publicKey must be an RSA public key of at least 2048 bits', 'publicKey');
    checkMemberKey(input.member, 'member.publicKey');
    try {
      const cluster = await this.prisma.cluster.create({
        data: {
          name: input.name,
          description: input.description ?? '',
          contact: input.contact ?? user.email,
          publicKey: input.publicKey,
          keyEnvelope: input.keyEnvelope,
          ownerId: user.id,
          members: { create: { ...input.member, isPrimary: true } },
          roles: { create: { userId: user.id, role: 'admin' } },
        },
        include: { members: true },
      });
      const member = cluster.members[0];
      await this.audit.record(user, { clusterId: cluster.id, action: 'cluster.create', targetType: 'cluster', targetId: cluster.id, detail: { name: cluster.name, primary: member.name } });
      this.logger.log(`cluster ${cluster.id} created by user ${user.id} with primary member ${member.id}`);
      return { clusterId: cluster.id, clusterName: cluster.name, memberId: member.id };
    } catch (e) {
      if (isUniqueViolation(e)) throw conflict(`a cluster named "${input.name}" already exists: choose another name or join it`, 'name');
      throw e;
    }
  }

  resolve(user: AuthUser, ref: string, field = 'cluster', need: Role = 'admin') {
    return this.access.cluster(user, ref, need, field);
  }

  async startJoin(user: AuthUser, ref: string): Promise<JoinChallenge> {
    const cluster = await this.resolve(user, ref);
    const challenge = await this.prisma.challenge.create({
      data: { purpose: 'join', clusterId: cluster.id, nonce: randomBytes(32).toString('base64url'), expiresAt: new Date(Date.now() + JOIN_CHALLENGE_TTL_MS) },
    });
    return {
      challengeId: challenge.id,
      nonce: challenge.nonce,
      clusterId: cluster.id,
      clusterName: cluster.name,
      publicKey: cluster.publicKey,
      keyEnvelope: KeyEnvelope.parse(cluster.keyEnvelope),
    };
  }

  /** Adds a secondary member once the host proved, by signing the nonce, that it opened the cluster key. */
  async completeJoin(user: AuthUser, input: JoinCompleteRequest): Promise<Installed> {
    checkMemberKey(input.member, 'member.publicKey');
    const challenge = await this.prisma.challenge.findUnique({ where: { id: input.challengeId }, include: { cluster: { include: { roles: { where: { userId: user.id } } } } } });
    if (!challenge || challenge.purpose !== 'join' || challenge.cluster.roles[0]?.role !== 'admin') {
      throw notFound('no such join in progress: start the join again', 'challengeId');
    }
    if (challenge.usedAt || challenge.expiresAt <= new Date()) throw unauthorized('this join challenge was used or has expired: start the join again');
    const cluster = challenge.cluster;
    if (!verifyMessage(cluster.publicKey, joinProofMessage(cluster.id, challenge.nonce), input.signature)) {
      throw unauthorized('the join proof does not match the cluster key: the recovery key is wrong');
    }
    try {
      const member = await this.prisma.$transaction(async (tx) => {
        const used = await tx.challenge.updateMany({ where: { id: challenge.id, usedAt: null }, data: { usedAt: new Date() } });
        if (used.count !== 1) throw unauthorized('this join challenge was already used: start the join again');
        return tx.member.create({ data: { ...input.member, clusterId: cluster.id, isPrimary: false } });
      });
      await this.state.bumpConfigVersion(cluster.id);
      await this.audit.record(user, { clusterId: cluster.id, action: 'member.join', targetType: 'member', targetId: member.id, detail: { name: member.name, hostName: member.hostName } });
      this.logger.log(`member ${member.id} joined cluster ${cluster.id}`);
      return { clusterId: cluster.id, clusterName: cluster.name, memberId: member.id };
    } catch (e) {
      if (isUniqueViolation(e)) throw conflict(`cluster "${cluster.name}" already has a member named "${input.member.name}": choose another with --member-name`, 'member.name');
      throw e;
    }
  }

  async update(user: AuthUser, ref: string, input: UpdateClusterRequest) {
    const cluster = await this.resolve(user, ref, 'id');
    const routing = input.routing ?? {};
    try {
      await this.prisma.cluster.update({
        where: { id: cluster.id },
        data: {
          name: input.name,
          description: input.description,
          contact: input.contact,
          routingMode: routing.mode,
          cpuThreshold: routing.cpuThreshold,
          memoryThreshold: routing.memoryThreshold,
        },
      });
    } catch (e) {
      if (isUniqueViolation(e)) throw conflict(`a cluster named "${input.name}" already exists`, 'name');
      throw e;
    }
    await this.state.bumpConfigVersion(cluster.id);
    await this.audit.record(user, { clusterId: cluster.id, action: 'cluster.update', targetType: 'cluster', targetId: cluster.id, detail: input as Record<string, unknown> });
    this.logger.log(`cluster ${cluster.id} updated by user ${user.id}`);
    return this.get(user, cluster.id);
  }

  /** Deletes the cluster with its members, data sources, roles, and its queue and keys in Redis. */
  /**
   * A new recovery key: the host that holds the cluster private key sealed it again under the new key (the API never
   * sees either key) and signed the new envelope with it. From now on the old recovery key opens nothing: joins need
   * the new one. Members are unaffected (they hold the private key itself).
   */
  async rotateRecoveryKey(user: AuthUser, ref: string, input: RotateRecoveryKeyRequest) {
    const cluster = await this.resolve(user, ref, 'id', 'admin');
    if (!verifyMessage(cluster.publicKey, rotateRecoveryKeyMessage(cluster.id, input.keyEnvelope), input.signature)) {
      throw new ApiError(401, 'the signature does not match the cluster key: make the new envelope on a member host of this cluster', 'signature');
    }
    await this.prisma.cluster.update({ where: { id: cluster.id }, data: { keyEnvelope: input.keyEnvelope } });
    await this.audit.record(user, { clusterId: cluster.id, action: 'cluster.recovery-key.rotate', targetType: 'cluster', targetId: cluster.id, detail: { name: cluster.name } });
    this.logger.log(`cluster ${cluster.id}: the recovery key was rotated by user ${user.id}`);
  }

  /** What a member host needs to rotate the cluster key: sealed credentials (ciphertext only) and members' box keys. */
  async keyRotationContext(user: AuthUser, ref: string): Promise<KeyRotationContext> {
    const c = await this.resolve(user, ref, 'id', 'admin');
    const [dataSources, members] = await Promise.all([
      this.prisma.dataSource.findMany({ where: { clusterId: c.id }, select: { id: true, name: true, updatedAt: true, credentials: true }, orderBy: { createdAt: 'asc' } }),
      this.prisma.member.findMany({ where: { clusterId: c.id }, select: { id: true, name: true, boxPublicKey: true }, orderBy: { joinOrder: 'asc' } }),
    ]);
    return {
      generation: c.keyGeneration,
      publicKey: c.publicKey,
      keyEnvelope: KeyEnvelope.parse(c.keyEnvelope),
      dataSources: dataSources.map((d) => ({ id: d.id, name: d.name, version: d.updatedAt.toISOString(), credentials: d.credentials ?? null })),
      members: members.map((m) => ({ id: m.id, name: m.name, boxKey: m.boxPublicKey })),
    };
  }

  /**
   * A new cluster key pair, made on a member host (the API never sees a private key or a credential): in one
   * transaction every credential is replaced by its copy sealed to the new key, the new public key and envelope are
   * stored, and each member is left its new private key sealed to its own box key, which its connection delivers
   * now or when it next connects. Refused unless it covers every data source as it is now and every member.
   */
  async rotateKey(user: AuthUser, ref: string, input: RotateKeyRequest) {
    const c = await this.resolve(user, ref, 'id', 'admin');
    if (!verifyMessage(c.publicKey, rotateKeyMessage(c.id, input.generation, rotateKeyDigest(input)), input.signature)) {
      throw new ApiError(401, 'the signature does not match the cluster key: make the rotation on a member host of this cluster', 'signature');
    }
    if (publicKeyKind(input.publicKey) !== 'rsa') throw badRequest('the new cluster key must be an RSA public key (SPKI PEM)', 'publicKey');
    const boxes = new Map(input.memberKeys.map((k) => [k.memberId, k.box]));
    const sealed = new Map(input.credentials.map((k) => [k.dataSourceId, k]));
    for (const [field, list] of [['credentials', input.credentials.map((k) => k.credentials)], ['memberKeys', input.memberKeys.map((k) => k.box)]] as const) {
      for (const box of list) if (box !== null && !SealedBox.safeParse(box).success) throw badRequest('a sealed box is malformed', field);
    }
    await this.prisma.$transaction(async (tx) => {
      const [locked] = await tx.$queryRaw<{ keyGeneration: number }[]>`SELECT "keyGeneration" FROM "Cluster" WHERE id = ${c.id}::uuid FOR UPDATE`;
      if (!locked || locked.keyGeneration !== input.generation) throw conflict(`the cluster key was rotated meanwhile (generation ${locked?.keyGeneration}, not ${input.generation}): run the rotation again`, 'generation');
      const [dataSources, members] = await Promise.all([
        tx.dataSource.findMany({ where: { clusterId: c.id }, select: { id: true, name: true, updatedAt: true, credentials: true } }),
        tx.member.findMany({ where: { clusterId: c.id }, select: { id: true, name: true } }),
      ]);
      for (const d of dataSources) {
        const s = sealed.get(d.id);
        if (!s || s.version !== d.updatedAt.toISOString()) throw conflict(`data source "${d.name}" changed meanwhile, or is missing from the rotation: run it again`, 'credentials');
        if ((s.credentials === null) !== (d.credentials === null)) throw badRequest(`the credentials of data source "${d.name}" are missing from the rotation`, 'credentials');
      }
      for (const m of members) if (!boxes.has(m.id)) throw conflict(`member "${m.name}" joined meanwhile, or is missing from the rotation: run it again`, 'memberKeys');
      for (const d of dataSources) {
        const s = sealed.get(d.id)!;
        await tx.dataSource.update({ where: { id: d.id }, data: { credentials: s.credentials === null ? Prisma.DbNull : (s.credentials as Prisma.InputJsonValue) } });
      }
      const generation = input.generation + 1;
      for (const m of members) await tx.member.update({ where: { id: m.id }, data: { pendingClusterKey: boxes.get(m.id) as Prisma.InputJsonValue, pendingKeyGeneration: generation } });
      await tx.cluster.update({ where: { id: c.id }, data: { publicKey: input.publicKey, keyEnvelope: input.keyEnvelope, keyGeneration: generation } });
    });
    await this.state.bumpConfigVersion(c.id);
    await this.audit.record(user, { clusterId: c.id, action: 'cluster.key.rotate', targetType: 'cluster', targetId: c.id, detail: { name: c.name, generation: input.generation + 1 } });
    this.logger.log(`cluster ${c.id}: the cluster key was rotated to generation ${input.generation + 1} by user ${user.id}`);
    return { generation: input.generation + 1 };
  }

  async remove(user: AuthUser, ref: string) {
    const cluster = await this.resolve(user, ref, 'id');
    // Its queue and keys first: while Redis is out of reach this answers 503 with the cluster untouched, rather than
    // deleting it and leaving its keys behind.
    await this.queue.obliterate(cluster.id);
    await this.state.removeKeys(cluster.id);
    await this.prisma.cluster.delete({ where: { id: cluster.id } });
    this.agentAuth.forgetCluster(cluster.id);
    // Every instance lets the cluster's members go (their connections close as "removed": they stop).
    await this.state.bumpConfigVersion(cluster.id);
    // Sweep once more after the members' connections closed, for anything written meanwhile (presence
    // withdrawals, BullMQ's stalled-job bookkeeping).
    setTimeout(() => void this.state.removeKeys(cluster.id).catch(() => undefined), this.config.PRESENCE_TTL_MS + 5_000).unref();
    await this.audit.record(user, { clusterId: cluster.id, action: 'cluster.delete', targetType: 'cluster', targetId: cluster.id, detail: { name: cluster.name } });
    this.logger.log(`cluster ${cluster.id} deleted by user ${user.id}`);
  }

  async list(user: AuthUser) {
    const clusters = await this.prisma.cluster.findMany({
      where: { roles: { some: { userId: user.id } } },
      include: { members: { select: { id: true, name: true, isPrimary: true, enabled: true, joinOrder: true } }, roles: { where: { userId: user.id } } },
      orderBy: { name: 'asc' },
    });
    return Promise.all(
      clusters.map(async (c) => {
        const { online, known } = await this.online(c.id, c.members);
        return toClusterView({ ...c, role: c.roles[0].role as Role, memberCount: c.members.length, onlineCount: online, presenceKnown: known });
      }),
    );
  }

  async get(user: AuthUser, ref: string) {
    const cluster = await this.resolve(user, ref, 'id', 'user');
    const members = await this.memberRows(cluster.id);
    const { online, known } = await this.online(cluster.id, members);
    return toClusterView({ ...cluster, memberCount: members.length, onlineCount: online, presenceKnown: known });
  }

  /** How many members are online, and whether presence could be read (it is unknown while Redis is down). */
  private async online(clusterId: string, members: { id: string }[]) {
    const { presence, known } = await this.state.presenceView(clusterId, members.map((m) => m.id));
    return { online: [...presence.values()].filter((p) => !p.draining).length, known };
  }

  private memberRows(clusterId: string) {
    return this.prisma.member.findMany({ where: { clusterId }, orderBy: { joinOrder: 'asc' } });
  }

  private loadWithMembers(user: AuthUser, ref: string) {
    return this.prisma.cluster.findFirst({ where: visibleCluster(user.id, ref), include: { members: { orderBy: { joinOrder: 'asc' } } } });
  }

  /** The cluster with its members, for routing; remembered until the cluster's config changes. */
  async withMembers(user: AuthUser, ref: string) {
    const cluster = await this.routable.get(`${user.id}:${ref}`, () => this.loadWithMembers(user, ref));
    if (!cluster) throw notFound(`no cluster "${ref}" that you can see`, 'id');
    return cluster;
  }

  /** Members with their live status (presence), in join order. */
  async members(user: AuthUser, ref: string): Promise<MemberStatusView[]> {
    const cluster = await this.resolve(user, ref, 'id');
    const [members, dataSources] = await Promise.all([this.memberRows(cluster.id), this.prisma.dataSource.findMany({ where: { clusterId: cluster.id }, select: { id: true, name: true } })]);
    const names = new Map(dataSources.map((d) => [d.id, d.name]));
    const { presence, known } = await this.state.presenceView(cluster.id, members.map((m) => m.id));
    return members.map((m) => {
      const p = presence.get(m.id);
      const sources = (p?.sources ?? [])
        .filter((s) => names.has(s.id))
        .map((s) => ({ dataSourceId: s.id, name: names.get(s.id)!, ok: s.ok, error: s.error ?? null, checkedAt: new Date(s.at).toISOString() }))
        .sort((a, b) => a.name.localeCompare(b.name));
      return {
        ...toMemberView(m),
        online: !!p && !p.draining,
        presenceKnown: known || !!p,
        // Drained by an admin: draining while it still runs something, then drained (also when it is offline).
        draining: !!p?.draining || (!!m.drainRequestedAt && (p?.busy ?? p?.activeJobs ?? 0) > 0),
        drained: !!m.drainRequestedAt && (p?.busy ?? p?.activeJobs ?? 0) === 0,
        lastHeartbeat: p ? new Date(p.at).toISOString() : null,
        cpu: p?.cpu ?? null,
        memory: p?.memory ?? null,
        activeJobs: p?.activeJobs ?? null,
        version: p?.version ?? null,
        protocol: p?.protocol ?? null,
        versionStanding: versionStanding(p?.version ?? m.agentVersion),
        sources,
      };
    });
  }
}
