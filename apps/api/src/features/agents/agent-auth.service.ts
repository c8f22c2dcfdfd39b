import { Inject, Injectable, Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { memberAuthMessage, type AgentToken } from '@gateway/domain';
import { verifyMessage } from '@gateway/domain/crypto';
import { PrismaService } from '../../infra/database/prisma.service';
import { ClusterStateService } from '../../infra/cluster-state/cluster-state.service';
import { TtlCache } from '../../infra/common/ttl-cache';
import { CONFIG, type Config } from '../../infra/config/config';
import { notFound, unauthorized } from '../../infra/http/errors';
import { hashToken, MEMBER_TOKEN_PREFIX, newToken } from '../auth/tokens';
import type { AuthMember, TokenVerifier } from '../../infra/http/principal';

const CHALLENGE_TTL_MS = 60_000;
const TOKEN_TTL_MS = 15 * 60_000;

/** Members authenticate by signing a one-time nonce with their own private key; they get a short-lived token. */
@Injectable()
export class AgentAuthService implements TokenVerifier<AuthMember> {
  private readonly logger = new Logger(AgentAuthService.name);
  /**
   * Tokens verified lately (by hash), for SESSION_CACHE_MS: a refresh makes several calls (start, chunks, end), and a
   * hundred refreshes on one tick made that lookup three of every seven statements. A member removed (or its cluster
   * deleted) bumps the cluster's config version, which every instance hears: its cached tokens go at once.
   */
  private readonly verified: TtlCache<AuthMember & { expiresAt: number }>;

  constructor(
    private readonly prisma: PrismaService,
    state: ClusterStateService,
    @Inject(CONFIG) config: Config,
  ) {
    this.verified = new TtlCache(config.SESSION_CACHE_MS);
    state.onConfigChange((clusterId) => this.forgetCluster(clusterId));
  }

  /** Called as a member is removed here: its tokens stop working at once (other instances hear the config bump). */
  forgetMember(memberId: string) {
    this.verified.deleteWhere((m) => m.id === memberId);
  }

  forgetCluster(clusterId: string) {
    this.verified.deleteWhere((m) => m.clusterId === clusterId);
  }

  async challenge(memberId: string) {
    const member = await this.prisma.member.findUnique({ where: { id: memberId } });
    if (!member) throw notFound(`no member ${memberId}: it may have been removed from its cluster`, 'memberId');
    const c = await this.prisma.challenge.create({
      data: { purpose: 'member-auth', clusterId: member.clusterId, memberId, nonce: randomBytes(32).toString('base64url'), expiresAt: new Date(Date.now() + CHALLENGE_TTL_MS) },
    });
    return { challengeId: c.id, nonce: c.nonce };
  }

  async token(challengeId: string, signature: string): Promise<AgentToken> {
    const c = await this.prisma.challenge.findUnique({ where: { id: challengeId } });
    if (!c || c.purpose !== 'member-auth' || !c.memberId || c.usedAt || c.expiresAt <= new Date()) {
      throw unauthorized('the challenge is unknown, used or expired: ask for a new one');
    }
    const member = await this.prisma.member.findUnique({ where: { id: c.memberId } });
    if (!member || !verifyMessage(member.publicKey, memberAuthMessage(member.id, c.nonce), signature)) {
      throw unauthorized('the signature does not match the member key');
    }
    // Single use, even under concurrent attempts.
    const used = await this.prisma.challenge.updateMany({ where: { id: c.id, usedAt: null }, data: { usedAt: new Date() } });
    if (used.count !== 1) throw unauthorized('the challenge was already used: ask for a new one');
    const issued = await this.issueToken(member.id);
    this.logger.log(`member ${member.id} of cluster ${member.clusterId} authenticated`);
    return { ...issued, memberId: member.id, clusterId: member.clusterId };
  }

  /** A short-lived token for the member's HTTPS calls (stored hashed); its connection hands it over. */
  async issueToken(memberId: string): Promise<{ token: string; expiresAt: string }> {
    const token = newToken(MEMBER_TOKEN_PREFIX);
    const expiresAt = new Date(Date.now() + TOKEN_TTL_MS);
    await this.prisma.memberSession.create({ data: { memberId, tokenHash: hashToken(token), expiresAt } });
    return { token, expiresAt: expiresAt.toISOString() };
  }

  /** On every agent call: one indexed lookup, unless the token was verified here lately. */
  async verify(token: string): Promise<AuthMember | null> {
    if (!token.startsWith(MEMBER_TOKEN_PREFIX)) return null;
    const hash = hashToken(token);
    const hit = this.verified.get(hash);
    if (hit && hit.expiresAt > Date.now()) return { id: hit.id, clusterId: hit.clusterId };
    const rows = await this.prisma.$queryRaw<(AuthMember & { expiresAt: Date })[]>`
      SELECT m.id, m."clusterId", s."expiresAt" FROM "MemberSession" s JOIN "Member" m ON m.id = s."memberId" WHERE s."tokenHash" = ${hash} AND s."expiresAt" > now()`;
    const row = rows[0];
    if (!row) return null;
    this.verified.set(hash, { id: row.id, clusterId: row.clusterId, expiresAt: row.expiresAt.getTime() });
    return { id: row.id, clusterId: row.clusterId };
  }
}
