import { Inject, Injectable, Logger } from '@nestjs/common';
import type { CreateTokenRequest, Credentials, Invitation, TokenResponse, TokenView, UserView } from '@gateway/domain';
import { CONFIG, type Config } from '../../infra/config/config';
import { PrismaService } from '../../infra/database/prisma.service';
import { conflict, forbidden, notFound, unauthorized } from '../../infra/http/errors';
import { hashPassword, scramVerifier, verifyPassword } from './passwords';
import { hashToken, newToken, PAT_PREFIX, USER_TOKEN_PREFIX } from './tokens';
import { TtlCache } from '../../infra/common/ttl-cache';
import { RateLimitService } from './rate-limit.service';
import { AuditService } from '../audit/audit.service';
import type { AuthUser, TokenVerifier } from '../../infra/http/principal';

const toUserView = (u: { id: string; email: string; createdAt: Date }): UserView => ({ id: u.id, email: u.email, createdAt: u.createdAt.toISOString() });

// A fixed hash to verify against when the email is unknown, so both paths take the same time.
const DUMMY_HASH = hashPassword('not-a-real-password-0000');
const INVITE_TTL_MS = 7 * 24 * 3600_000;

type SessionRow = { id: string; name: string | null; createdAt: Date; expiresAt: Date; lastUsedAt: Date | null; revokedAt: Date | null };
const toTokenView = (s: SessionRow): TokenView => ({
  id: s.id,
  name: s.name ?? '',
  createdAt: s.createdAt.toISOString(),
  expiresAt: s.expiresAt.toISOString(),
  lastUsedAt: s.lastUsedAt?.toISOString() ?? null,
  revoked: s.revokedAt !== null,
});

@Injectable()
export class AuthService implements TokenVerifier<AuthUser> {
  private readonly logger = new Logger(AuthService.name);
  private readonly sessions: TtlCache<{ user: AuthUser; expiresAt: number }>;

  constructor(
    private readonly prisma: PrismaService,
    @Inject(CONFIG) private readonly config: Config,
    private readonly limits: RateLimitService,
    private readonly audit: AuditService,
  ) {
    this.sessions = new TtlCache(config.SESSION_CACHE_MS);
  }

  /** The first account may always sign up; after that only when ALLOW_SIGNUP is on. */
  async signup(input: Credentials): Promise<TokenResponse> {
    const passwordHash = await hashPassword(input.password);
    const user = await this.prisma.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(72707370)`;
      if (!this.config.ALLOW_SIGNUP && (await tx.user.count()) > 0) {
        throw forbidden('sign-up is closed: an administrator must invite you (or start the API with ALLOW_SIGNUP=true)');
      }
      if (await tx.user.findUnique({ where: { email: input.email } })) {
        throw conflict('an account with this email exists: sign in instead', 'email');
      }
      return tx.user.create({ data: { email: input.email, passwordHash, scramVerifier: scramVerifier(input.password) } });
    });
    this.logger.log(`user ${user.id} signed up`);
    return this.issue(user);
  }

  async login(input: Credentials, address: string): Promise<TokenResponse> {
    await this.limits.assertAllowed(input.email, address);
    const user = await this.prisma.user.findUnique({ where: { email: input.email } });
    const ok = await verifyPassword(user?.passwordHash ?? (await DUMMY_HASH), input.password);
    if (!user || !user.passwordHash || !ok) {
      await this.limits.failed(input.email, address);
      throw unauthorized('wrong email or password');
    }
    await this.limits.succeeded(input.email);
    await this.keepScramVerifier(user, input.password);
    return this.issue(user);
  }

  /** Accounts whose password was set before the front door existed get their SCRAM verifier when it is next used. */
  private async keepScramVerifier(user: { id: string; scramVerifier: string | null }, password: string) {
    if (!user.scramVerifier) await this.prisma.user.update({ where: { id: user.id }, data: { scramVerifier: scramVerifier(password) } });
  }

  /**
   * A sign-in of the PostgreSQL front door, with the account's password or one of its tokens (a personal access
   * token, or a sign-in token): counted in the same limits as REST sign-ins. Null when it fails.
   */
  async signInWithSecret(email: string, secret: string, address: string): Promise<AuthUser | null> {
    await this.limits.assertAllowed(email, address);
    let user: AuthUser | null = null;
    if (secret.startsWith(PAT_PREFIX) || secret.startsWith(USER_TOKEN_PREFIX)) {
      const owner = await this.verify(secret);
      user = owner && owner.email === email ? owner : null;
    } else {
      const row = await this.prisma.user.findUnique({ where: { email } });
      const ok = await verifyPassword(row?.passwordHash ?? (await DUMMY_HASH), secret);
      if (row && row.passwordHash && ok) {
        await this.keepScramVerifier(row, secret);
        user = { id: row.id, email: row.email };
      }
    }
    if (!user) await this.limits.failed(email, address);
    else await this.limits.succeeded(email);
    return user;
  }

  /** The account's SCRAM verifier (null for an unknown account or one that has none yet). */
  async scramVerifierOf(email: string): Promise<{ user: AuthUser; verifier: string } | null> {
    const row = await this.prisma.user.findUnique({ where: { email } });
    return row?.scramVerifier ? { user: { id: row.id, email: row.email }, verifier: row.scramVerifier } : null;
  }

  async logout(token: string) {
    const tokenHash = hashToken(token);
    this.sessions.delete(tokenHash);
    await this.prisma.session.updateMany({ where: { tokenHash, revokedAt: null }, data: { revokedAt: new Date() } });
  }

  /**
   * Resolves a bearer token (sign-in session or personal access token) to its user, or null when it is
   * unknown, expired or revoked. Valid tokens are remembered for SESSION_CACHE_MS, so a token revoked through
   * another API instance stops working within that time.
   */
  async verify(token: string): Promise<AuthUser | null> {
    if (!token.startsWith(USER_TOKEN_PREFIX) && !token.startsWith(PAT_PREFIX)) return null;
    const tokenHash = hashToken(token);
    const cached = this.sessions.get(tokenHash);
    if (cached && cached.expiresAt > Date.now()) return cached.user;
    const session = await this.prisma.session.findUnique({ where: { tokenHash }, include: { user: true } });
    if (!session || session.revokedAt || session.expiresAt <= new Date()) return null;
    const user = { id: session.user.id, email: session.user.email };
    this.sessions.set(tokenHash, { user, expiresAt: session.expiresAt.getTime() });
    await this.prisma.session.update({ where: { id: session.id }, data: { lastUsedAt: new Date() } });
    return user;
  }

  async me(user: AuthUser): Promise<UserView> {
    return toUserView(await this.prisma.user.findUniqueOrThrow({ where: { id: user.id } }));
  }

  /** Creates an account for an invited email with a one-time token to set its password. Admins of any cluster may invite. */
  async invite(user: AuthUser, email: string): Promise<Invitation> {
    const isAdmin = await this.prisma.clusterRole.count({ where: { userId: user.id, role: 'admin' } });
    if (!isAdmin) throw forbidden('only an admin of a cluster can invite users');
    if (await this.prisma.user.findUnique({ where: { email } })) throw conflict(`${email} already has an account: grant them a role instead`, 'email');
    const inviteToken = newToken('gwi_');
    const expiresAt = new Date(Date.now() + INVITE_TTL_MS);
    const invited = await this.prisma.user.create({ data: { email, inviteTokenHash: hashToken(inviteToken), inviteExpiresAt: expiresAt } });
    await this.audit.record(user, { clusterId: null, action: 'user.invite', targetType: 'user', targetId: invited.id, detail: { email } });
    return { userId: invited.id, email, inviteToken, expiresAt: expiresAt.toISOString() };
  }

  async acceptInvite(inviteToken: string, password: string): Promise<TokenResponse> {
    const user = await this.prisma.user.findUnique({ where: { inviteTokenHash: hashToken(inviteToken) } });
    if (!user || !user.inviteExpiresAt || user.inviteExpiresAt <= new Date()) throw unauthorized('this invitation is unknown, used or expired: ask for a new one');
    const updated = await this.prisma.user.update({ where: { id: user.id }, data: { passwordHash: await hashPassword(password), scramVerifier: scramVerifier(password), inviteTokenHash: null, inviteExpiresAt: null } });
    return this.issue(updated);
  }

  async createToken(user: AuthUser, input: CreateTokenRequest) {
    const token = newToken(PAT_PREFIX);
    const row = await this.prisma.session.create({
      data: { userId: user.id, kind: 'pat', name: input.name, tokenHash: hashToken(token), expiresAt: new Date(Date.now() + input.expiresInDays * 24 * 3600_000) },
    });
    await this.audit.record(user, { clusterId: null, action: 'token.create', targetType: 'token', targetId: row.id, detail: { name: input.name } });
    return { ...toTokenView(row), token };
  }

  async listTokens(user: AuthUser) {
    const rows = await this.prisma.session.findMany({ where: { userId: user.id, kind: 'pat' }, orderBy: { createdAt: 'desc' } });
    return rows.map(toTokenView);
  }

  async revokeToken(user: AuthUser, id: string) {
    const row = await this.prisma.session.findFirst({ where: { id, userId: user.id, kind: 'pat' } });
    if (!row) throw notFound(`no token ${id}`, 'id');
    await this.prisma.session.update({ where: { id }, data: { revokedAt: row.revokedAt ?? new Date() } });
    this.sessions.delete(row.tokenHash);
    await this.audit.record(user, { clusterId: null, action: 'token.revoke', targetType: 'token', targetId: id, detail: { name: row.name } });
  }

  private async issue(user: { id: string; email: string; createdAt: Date }): Promise<TokenResponse> {
    const token = newToken(USER_TOKEN_PREFIX);
    const expiresAt = new Date(Date.now() + this.config.SESSION_TTL_HOURS * 3600_000);
    await this.prisma.session.create({ data: { userId: user.id, tokenHash: hashToken(token), expiresAt } });
    return { token, expiresAt: expiresAt.toISOString(), user: toUserView(user) };
  }
}
