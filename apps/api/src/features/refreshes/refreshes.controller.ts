import { Body, Controller, Get, Param, Post, Req } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { AGENT_ROUTES, AgentOk, ChunkAck, ChunkQuery, IdParams, RefreshAttemptRef, RefreshComplete, RefreshFail, RefreshStart, RefreshView } from '@gateway/domain';
import type { AuthMember, AuthUser } from '../../infra/http/principal';
import { CurrentMember, CurrentUser } from '../../infra/http/auth.guard';
import { Endpoint } from '../../infra/http/endpoint';
import { badRequest } from '../../infra/http/errors';
import { RefreshesService } from './refreshes.service';
import { RefreshRunsService } from './refresh-runs.service';

const Ok = AgentOk;

@Controller()
export class RefreshesController {
  constructor(
    private readonly refreshes: RefreshesService,
    private readonly runs: RefreshRunsService,
  ) {}

  @Get('refreshes/:id')
  @Endpoint({ operationId: 'getRefresh', tag: 'refreshes', summary: 'One refresh: status, trigger, attempts (member and reason), rows, bytes, error', auth: 'user', params: IdParams, response: RefreshView, errors: [404] })
  get(@CurrentUser() user: AuthUser, @Param('id') id: string) {
    return this.refreshes.get(user, id);
  }

  @Post('refreshes/:id/cancel')
  @Endpoint({ operationId: 'cancelRefresh', tag: 'refreshes', summary: 'Cancel a queued or running refresh (a running one stops on its agent)', auth: 'user', params: IdParams, response: RefreshView, errors: [404, 409] })
  cancel(@CurrentUser() user: AuthUser, @Param('id') id: string) {
    return this.refreshes.cancel(user, id);
  }

  @Post(AGENT_ROUTES.refreshStart.route)
  @Endpoint({ operationId: 'startRefreshAttempt', tag: 'agents', summary: 'A member starts an attempt of a refresh it took from the queue', auth: 'member', params: IdParams, response: RefreshStart, errors: [404] })
  start(@CurrentMember() member: AuthMember, @Param('id') id: string) {
    return this.runs.start(member, id);
  }

  @Post(AGENT_ROUTES.refreshChunk.route)
  @Endpoint({ operationId: 'uploadRefreshChunk', tag: 'agents', summary: 'A member uploads one compressed chunk of a refresh (Brotli with encoding=br, else gzip; NDJSON arrays, or PostgreSQL COPY text with format=pgcopy); the answer says whether to stop', auth: 'member', params: IdParams, query: ChunkQuery, consumes: 'application/octet-stream', response: ChunkAck, errors: [404, 413] })
  chunk(@CurrentMember() member: AuthMember, @Param('id') id: string, @Req() req: FastifyRequest & { query: z.infer<typeof ChunkQuery> }) {
    if (!Buffer.isBuffer(req.body)) throw badRequest('send the chunk as application/octet-stream', 'body');
    return this.runs.chunk(member, id, req.query, req.body);
  }

  @Post(AGENT_ROUTES.refreshStatus.route)
  @Endpoint({ operationId: 'reportRefreshStatus', tag: 'agents', summary: 'A member reports it is still running an attempt; the answer says whether to stop', auth: 'member', params: IdParams, body: RefreshAttemptRef, response: ChunkAck, errors: [404] })
  status(@CurrentMember() member: AuthMember, @Param('id') id: string, @Body() body: z.infer<typeof RefreshAttemptRef>) {
    return this.runs.status(member, id, body.attempt);
  }

  @Post(AGENT_ROUTES.refreshComplete.route)
  @Endpoint({ operationId: 'completeRefreshAttempt', tag: 'agents', summary: 'A member completes an attempt: its chunks become the snapshot', auth: 'member', params: IdParams, body: RefreshComplete, response: Ok, errors: [404] })
  complete(@CurrentMember() member: AuthMember, @Param('id') id: string, @Body() body: z.infer<typeof RefreshComplete>) {
    return this.runs.complete(member, id, body.attempt, body.columns, body.chunks === undefined ? undefined : { chunks: body.chunks, rows: body.rows ?? 0 });
  }

  @Post(AGENT_ROUTES.refreshFail.route)
  @Endpoint({ operationId: 'failRefreshAttempt', tag: 'agents', summary: 'A member reports a failed attempt (final when no attempt is left)', auth: 'member', params: IdParams, body: RefreshFail, response: Ok, errors: [404] })
  fail(@CurrentMember() member: AuthMember, @Param('id') id: string, @Body() body: z.infer<typeof RefreshFail>) {
    return this.runs.fail(member, id, body.attempt, body.error, body.permanent);
  }

  @Post(AGENT_ROUTES.refreshCancelled.route)
  @Endpoint({ operationId: 'confirmRefreshCancelled', tag: 'agents', summary: 'A member confirms it stopped a cancelled refresh', auth: 'member', params: IdParams, body: RefreshAttemptRef, response: Ok, errors: [404] })
  cancelled(@CurrentMember() member: AuthMember, @Param('id') id: string, @Body() body: z.infer<typeof RefreshAttemptRef>) {
    return this.runs.cancelled(member, id, body.attempt);
  }
}
