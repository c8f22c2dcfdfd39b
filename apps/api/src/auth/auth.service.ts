import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Credentials, TokenResponse, UserView } from '@gateway/domain';
import { CONFIG, type Config } from '../config/config';
import { PrismaService } from '../database/prisma.service';
import { forbidden, unauthorized } from '../http/errors';
import { hashPassword, verifyPassword } from './passwords';
import { hashToken, newToken, USER_TOKEN_PREFIX } from './tokens';
import { TtlCache } from '../common/ttl-cache';

export interface AuthUser {
  id: string;
  email: string;
}

const toUserView = (u: { id: string; email: string; createdAt: Date }): UserView => ({ id: u.id, email: u.email, createdAt: u.createdAt.toISOString() });

// A fixed hash to verify against when the email is unknown, so both paths take the same time.
const DUMMY_HASH = hashPassword('not-a-real-password-0000');

@Injectable()
export class AuthService {
  private readonly logger = new Logger(AuthService.name);
  private readonly sessions: TtlCache<{ user: AuthUser; expiresAt: number }>;

  constructor(
    private readonly prisma: PrismaService,
    @Inject(CONFIG) private readonly config: Config,
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
        throw forbidden('sign-up is closed for this email: sign in instead');
      }
      return tx.user.create({ data: { email: input.email, passwordHash } });
    });
    this.logger.log(`user ${user.id} signed up`);
    return this.issue(user);
  }

  async login(input: Credentials): Promise<TokenResponse> {
    const user = await this.prisma.user.findUnique({ where: { email: input.email } });
    const ok = await verifyPassword(user?.passwordHash ?? (await DUMMY_HASH), input.password);
    if (!user || !ok) throw unauthorized('wrong email or password');
    return this.issue(user);
  }

  async logout(token: string) {
    const tokenHash = hashToken(token);
    this.sessions.delete(tokenHash);
    await this.prisma.session.updateMany({ where: { tokenHash, revokedAt: null }, data: { revokedAt: new Date() } });
  }

  /**
   * Resolves a bearer token to its user, or null when it is unknown, expired or revoked. Valid sessions are
   * remembered for SESSION_CACHE_MS, so a token revoked through another API instance stops working within that time.
   */
  async verify(token: string): Promise<AuthUser | null> {
    if (!token.startsWith(USER_TOKEN_PREFIX)) return null;
    const tokenHash = hashToken(token);
    const cached = this.sessions.get(tokenHash);
    if (cached && cached.expiresAt > Date.now()) return cached.user;
    const session = await this.prisma.session.findUnique({ where: { tokenHash }, include: { user: true } });
    if (!session || session.revokedAt || session.expiresAt <= new Date()) return null;
    const user = { id: session.user.id, email: session.user.email };
    this.sessions.set(tokenHash, { user, expiresAt: session.expiresAt.getTime() });
    return user;
  }

  private async issue(user: { id: string; email: string; createdAt: Date }): Promise<TokenResponse> {
    const token = newToken(USER_TOKEN_PREFIX);
    const expiresAt = new Date(Date.now() + this.config.SESSION_TTL_HOURS * 3600_000);
    await this.prisma.session.create({ data: { userId: user.id, tokenHash: hashToken(token), expiresAt } });
    return { token, expiresAt: expiresAt.toISOString(), user: toUserView(user) };
  }
}
