import { CanActivate, createParamDecorator, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { MEMBER_TOKENS, USER_TOKENS, type AuthMember, type AuthUser, type TokenVerifier } from './principal';
import { ENDPOINT, type EndpointSpec } from './endpoint';
import { forbidden, unauthorized } from './errors';
import { readCookie, SESSION_COOKIE } from './cookies';

type AuthedRequest = FastifyRequest & { user?: AuthUser; member?: AuthMember };

export function bearer(req: FastifyRequest): string | null {
  const header = req.headers.authorization;
  if (!header) return null;
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  return match ? match[1] : null;
}

/** The caller's token: a bearer token (CLI, agents, scripts) or the portal's session cookie. */
export const requestToken = (req: FastifyRequest) => bearer(req) ?? readCookie(req, SESSION_COOKIE);

/** Every route declares who may call it (see Endpoint); a route that does not is refused, never open. */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    @Inject(USER_TOKENS) private readonly users: TokenVerifier<AuthUser>,
    @Inject(MEMBER_TOKENS) private readonly members: TokenVerifier<AuthMember>,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const spec = this.reflector.get<EndpointSpec | undefined>(ENDPOINT, context.getHandler());
    if (!spec) throw forbidden('this route declares no access rule');
    if (spec.auth === 'public') return true;
    const req = context.switchToHttp().getRequest<AuthedRequest>();
    const token = spec.auth === 'user' ? requestToken(req) : bearer(req);
    if (!token) throw unauthorized('missing bearer token: sign in and send Authorization: Bearer <token>');
    if (spec.auth === 'user') {
      const user = await this.users.verify(token);
      if (!user) throw unauthorized('the bearer token is invalid, expired or revoked: sign in again');
      req.user = user;
    } else {
      const member = await this.members.verify(token);
      if (!member) throw unauthorized('the member token is invalid or expired: authenticate the member again');
      req.member = member;
    }
    return true;
  }
}

export const CurrentUser = createParamDecorator((_: unknown, ctx: ExecutionContext) => ctx.switchToHttp().getRequest<AuthedRequest>().user!);
export const CurrentMember = createParamDecorator((_: unknown, ctx: ExecutionContext) => ctx.switchToHttp().getRequest<AuthedRequest>().member!);
