import { Body, Controller, Get, Post } from '@nestjs/common';
import { z } from 'zod';
import { AgentChallenge, AgentChallengeRequest, AgentConfigView, AgentSelf, AgentToken, AgentTokenRequest } from '@gateway/domain';
import { Inject } from '@nestjs/common';
import { CONFIG, type Config } from '../../infra/config/config';
import { ClusterStateService } from '../../infra/cluster-state/cluster-state.service';
import { CurrentMember } from '../../infra/http/auth.guard';
import { Endpoint } from '../../infra/http/endpoint';
import { notFound } from '../../infra/http/errors';
import { PrismaService } from '../../infra/database/prisma.service';
import { routingOf, toMemberView } from '../clusters/views';
import { AgentAuthService } from './agent-auth.service';
import type { AuthMember } from '../../infra/http/principal';

@Controller('agents')
export class AgentsController {
  constructor(
    private readonly auth: AgentAuthService,
    private readonly prisma: PrismaService,
    private readonly state: ClusterStateService,
    @Inject(CONFIG) private readonly settings: Config,
  ) {}

  @Post('challenge')
  @Endpoint({ operationId: 'createAgentChallenge', tag: 'agents', summary: 'A nonce for a member to sign with its own key', auth: 'public', body: AgentChallengeRequest, response: AgentChallenge, status: 201, errors: [404] })
  challenge(@Body() body: z.infer<typeof AgentChallengeRequest>) {
    return this.auth.challenge(body.memberId);
  }

  @Post('token')
  @Endpoint({ operationId: 'createAgentToken', tag: 'agents', summary: 'Exchange a signed nonce for a short-lived member token', auth: 'public', body: AgentTokenRequest, response: AgentToken, status: 201 })
  token(@Body() body: z.infer<typeof AgentTokenRequest>) {
    return this.auth.token(body.challengeId, body.signature);
  }

  @Get('config')
  @Endpoint({ operationId: 'getAgentConfig', tag: 'agents', summary: 'The member\'s view of its cluster: routing, members, heartbeat (its connection gets the same)', auth: 'member', response: AgentConfigView, errors: [404] })
  async config(@CurrentMember() who: AuthMember) {
    const member = await this.prisma.member.findUnique({ where: { id: who.id }, include: { cluster: { include: { members: { orderBy: { joinOrder: 'asc' } } } } } });
    if (!member) throw notFound('this member no longer exists');
    const cluster = member.cluster;
    const configVersion = await this.state.configVersion(cluster.id);
    return {
      member: toMemberView(member),
      cluster: { id: cluster.id, name: cluster.name, routing: routingOf(cluster) },
      members: cluster.members.map((m) => ({ id: m.id, name: m.name, primary: m.isPrimary, enabled: m.enabled, joinOrder: m.joinOrder })),
      configVersion,
      heartbeatMs: this.settings.HEARTBEAT_MS,
      presenceTtlMs: this.settings.PRESENCE_TTL_MS,
    };
  }

  @Get('me')
  @Endpoint({ operationId: 'getAgentSelf', tag: 'agents', summary: 'The authenticated member and its cluster', auth: 'member', response: AgentSelf, errors: [404] })
  async me(@CurrentMember() who: AuthMember) {
    const member = await this.prisma.member.findUnique({ where: { id: who.id }, include: { cluster: true } });
    if (!member) throw notFound('this member no longer exists');
    return { member: toMemberView(member), cluster: { id: member.cluster.id, name: member.cluster.name } };
  }
}
