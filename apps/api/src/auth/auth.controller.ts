import { Body, Controller, Post, Req } from '@nestjs/common';
import { z } from 'zod';
import { Credentials, TokenResponse } from '@gateway/domain';
import { Endpoint } from '../http/endpoint';
import { bearer } from '../http/auth.guard';
import { AuthService } from './auth.service';
import type { FastifyRequest } from 'fastify';

@Controller('auth')
export class AuthController {
  constructor(private readonly auth: AuthService) {}

  @Post('signup')
  @Endpoint({ tag: 'auth', summary: 'Create the first account (later ones only with ALLOW_SIGNUP=true)', auth: 'public', body: Credentials, response: TokenResponse, status: 201, errors: [403] })
  signup(@Body() body: Credentials) {
    return this.auth.signup(body);
  }

  @Post('login')
  @Endpoint({ tag: 'auth', summary: 'Sign in; returns a bearer token', auth: 'public', body: Credentials, response: TokenResponse })
  login(@Body() body: Credentials) {
    return this.auth.login(body);
  }

  @Post('logout')
  @Endpoint({ tag: 'auth', summary: 'Revoke the bearer token used for this call', auth: 'user', response: z.object({ ok: z.literal(true) }) })
  async logout(@Req() req: FastifyRequest) {
    await this.auth.logout(bearer(req)!);
    return { ok: true as const };
  }
}
