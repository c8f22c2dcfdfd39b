import { Injectable, Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import {
  joinProofMessage,
  type CreateClusterRequest,
  type Installed,
  type JoinChallenge,
  type JoinCompleteRequest,
  type MemberRegistration,
  type UpdateClusterRequest,
  KeyEnvelope,
} from '@gateway/domain';
import { publicKeyKind, verifyMessage } from '@gateway/domain/crypto';
import type { AuthUser } from '../auth/auth.service';
import { PrismaService } from '../database/prisma.service';
import { isUniqueViolation } from '../database/errors';
import { badRequest, conflict, notFound, unauthorized } from '../http/errors';
import { toClusterView, toMemberView } from './views';
import { ClusterStateService } from '../cluster-state/cluster-state.service';
import { VersionedCache } from '../cluster-state/versioned-cache';

const JOIN_CHALLENGE_TTL_MS = 5 * 60_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

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
  ) {
    this.routable = new VersionedCache(state, (c) => c.id);
  }

  /** A new cluster with the installing host as its primary. */
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
        },
        include: { members: true },
      });
      const member = cluster.members[0];
      this.logger.log(`cluster ${cluster.id} created by user ${user.id} with primary member ${member.id}`);
      return { clusterId: cluster.id, clusterName: cluster.name, memberId: member.id };
    } catch (e) {
      if (isUniqueViolation(e)) throw conflict(`a cluster named "${input.name}" already exists: choose another name or join it`, 'name');
      throw e;
    }
  }

  /** Finds a cluster the user may manage by id or by name; anything else is "not found". */
  async resolve(user: AuthUser, ref: string, field = 'cluster') {
    const where = UUID.test(ref) ? { OR: [{ id: ref }, { name: ref }] } : { name: ref };
    const cluster = await this.prisma.cluster.findFirst({ where: { ...where, ownerId: user.id } });
    if (!cluster) throw notFound(`no cluster "${ref}" that you can manage`, field);
    return cluster;
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
    const challenge = await this.prisma.challenge.findUnique({ where: { id: input.challengeId }, include: { cluster: true } });
    if (!challenge || challenge.purpose !== 'join' || challenge.cluster.ownerId !== user.id) {
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
      const updated = await this.prisma.cluster.update({
        where: { id: cluster.id },
        data: {
          name: input.name,
          description: input.description,
          contact: input.contact,
          routingMode: routing.mode,
          cpuThreshold: routing.cpuThreshold,
          memoryThreshold: routing.memoryThreshold,
        },
        include: { _count: { select: { members: true } } },
      });
      await this.state.bumpConfigVersion(cluster.id);
      this.logger.log(`cluster ${cluster.id} updated by user ${user.id}`);
      return toClusterView(updated);
    } catch (e) {
      if (isUniqueViolation(e)) throw conflict(`a cluster named "${input.name}" already exists`, 'name');
      throw e;
    }
  }

  async list(user: AuthUser) {
    const clusters = await this.prisma.cluster.findMany({ where: { ownerId: user.id }, include: { _count: { select: { members: true } } }, orderBy: { name: 'asc' } });
    return clusters.map(toClusterView);
  }

  async get(user: AuthUser, ref: string) {
    const cluster = await this.resolve(user, ref, 'id');
    const count = await this.prisma.member.count({ where: { clusterId: cluster.id } });
    return toClusterView({ ...cluster, _count: { members: count } });
  }

  private loadWithMembers(user: AuthUser, ref: string) {
    const where = UUID.test(ref) ? { OR: [{ id: ref }, { name: ref }] } : { name: ref };
    return this.prisma.cluster.findFirst({ where: { ...where, ownerId: user.id }, include: { members: { orderBy: { joinOrder: 'asc' } } } });
  }

  /** The cluster with its members, for routing; remembered until the cluster's config changes. */
  async withMembers(user: AuthUser, ref: string) {
    const cluster = await this.routable.get(`${user.id}:${ref}`, () => this.loadWithMembers(user, ref));
    if (!cluster) throw notFound(`no cluster "${ref}" that you can manage`, 'id');
    return cluster;
  }

  async members(user: AuthUser, ref: string) {
    const cluster = await this.resolve(user, ref, 'id');
    const members = await this.prisma.member.findMany({ where: { clusterId: cluster.id }, orderBy: { joinOrder: 'asc' } });
    return members.map(toMemberView);
  }
}
