import { Body, Controller, Delete, Get, Param, Post, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { AcceptInviteRequest, CreatedToken, CreateTokenRequest, Credentials, IdParams, Invitation, InviteRequest, TokenResponse, TokenView, UserView } from '@gateway/domain';
import { Endpoint } from '../../infra/http/endpoint';
import { CurrentUser, requestToken } from '../../infra/http/auth.guard';
import { AuthService } from './auth.service';
import type { AuthUser } from '../../infra/http/principal';
import { clearSessionCookie, setSessionCookie } from '../../infra/http/cookies';

const Ok = z.object({ ok: z.literal(true) });

@Controller()
export class AuthController {
  constructor(private readonly auth: AuthService) {}

  @Post('auth/signup')
  @Endpoint({ operationId: 'signUp', tag: 'auth', summary: 'Create the first account (later ones only with ALLOW_SIGNUP=true); also sets the portal session cookie', auth: 'public', body: Credentials, response: TokenResponse, status: 201, errors: [403, 409] })
  async signup(@Body() body: Credentials, @Req() req: FastifyRequest, @Res({ passthrough: true }) reply: FastifyReply) {
    const r = await this.auth.signup(body);
    setSessionCookie(req, reply, r.token, r.expiresAt);
    return r;
  }

  @Post('auth/login')
  @Endpoint({ operationId: 'signIn', tag: 'auth', summary: 'Sign in: a bearer token for the CLI and an httpOnly session cookie for the portal (rate limited)', auth: 'public', body: Credentials, response: TokenResponse, errors: [429] })
  async login(@Body() body: Credentials, @Req() req: FastifyRequest, @Res({ passthrough: true }) reply: FastifyReply) {
    const r = await this.auth.login(body, req.ip);
    setSessionCookie(req, reply, r.token, r.expiresAt);
    return r;
  }

  @Post('auth/logout')
  @Endpoint({ operationId: 'signOut', tag: 'auth', summary: 'Revoke the token (or session cookie) used for this call', auth: 'user', response: Ok })
  async logout(@Req() req: FastifyRequest, @Res({ passthrough: true }) reply: FastifyReply) {
    await this.auth.logout(requestToken(req)!);
    clearSessionCookie(reply);
    return { ok: true as const };
  }

  @Get('auth/me')
  @Endpoint({ operationId: 'getCurrentUser', tag: 'auth', summary: 'The signed-in user', auth: 'user', response: UserView })
  me(@CurrentUser() user: AuthUser) {
    return this.auth.me(user);
  }

  @Post('auth/accept-invite')
  @Endpoint({ operationId: 'acceptInvite', tag: 'auth', summary: 'Set the password of an invited account with its one-time token, and sign in', auth: 'public', body: AcceptInviteRequest, response: TokenResponse })
  async acceptInvite(@Body() body: z.infer<typeof AcceptInviteRequest>, @Req() req: FastifyRequest, @Res({ passthrough: true }) reply: FastifyReply) {
    const r = await this.auth.acceptInvite(body.inviteToken, body.password);
    setSessionCookie(req, reply, r.token, r.expiresAt);
    return r;
  }

  @Post('users/invite')
  @Endpoint({ operationId: 'inviteUser', tag: 'users', summary: 'Invite a user by email: creates the account with a one-time token to set its password (admins only)', auth: 'user', body: InviteRequest, response: Invitation, status: 201, errors: [403, 409] })
  invite(@CurrentUser() user: AuthUser, @Body() body: z.infer<typeof InviteRequest>) {
    return this.auth.invite(user, body.email);
  }

  @Post('tokens')
  @Endpoint({ operationId: 'createToken', tag: 'tokens', summary: 'Create a personal access token; the token is shown in this response only', auth: 'user', body: CreateTokenRequest, response: CreatedToken, status: 201 })
  createToken(@CurrentUser() user: AuthUser, @Body() body: CreateTokenRequest) {
    return this.auth.createToken(user, body);
  }

  @Get('tokens')
  @Endpoint({ operationId: 'listTokens', tag: 'tokens', summary: 'Your personal access tokens (never the tokens themselves)', auth: 'user', response: z.array(TokenView) })
  tokens(@CurrentUser() user: AuthUser) {
    return this.auth.listTokens(user);
  }

  @Delete('tokens/:id')
  @Endpoint({ operationId: 'revokeToken', tag: 'tokens', summary: 'Revoke a personal access token', auth: 'user', params: IdParams, status: 204, errors: [404] })
  async revokeToken(@CurrentUser() user: AuthUser, @Param('id') id: string) {
    await this.auth.revokeToken(user, id);
  }
}
