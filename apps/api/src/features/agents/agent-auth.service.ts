import { Injectable, Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { memberAuthMessage, type AgentToken } from '@gateway/domain';
import { verifyMessage } from '@gateway/domain/crypto';
import { PrismaService } from '../../infra/database/prisma.service';
import { notFound, unauthorized } from '../../infra/http/errors';
import { hashToken, MEMBER_TOKEN_PREFIX, newToken } from '../auth/tokens';
import type { AuthMember, TokenVerifier } from '../../infra/http/principal';

const CHALLENGE_TTL_MS = 60_000;
const TOKEN_TTL_MS = 15 * 60_000;

/** Members authenticate by signing a one-time nonce with their own private key; they get a short-lived token. */
@Injectable()
export class AgentAuthService implements TokenVerifier<AuthMember> {
  private readonly logger = new Logger(AgentAuthService.name);

  constructor(private readonly prisma: PrismaService) {}

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

  /** On every agent call: one indexed lookup. */
  async verify(token: string): Promise<AuthMember | null> {
    if (!token.startsWith(MEMBER_TOKEN_PREFIX)) return null;
    const rows = await this.prisma.$queryRaw<AuthMember[]>`
      SELECT m.id, m."clusterId" FROM "MemberSession" s JOIN "Member" m ON m.id = s."memberId" WHERE s."tokenHash" = ${hashToken(token)} AND s."expiresAt" > now()`;
    return rows[0] ?? null;
  }
}
