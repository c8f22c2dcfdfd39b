import { Body, Controller, Get, Post } from '@nestjs/common';
import { z } from 'zod';
import { AgentChallenge, AgentChallengeRequest, AgentConfigView, AgentRedisCredentials, AgentSelf, AgentToken, AgentTokenRequest } from '@gateway/domain';
import { sealForCluster } from '@gateway/domain/crypto';
import { Inject } from '@nestjs/common';
import { CONFIG, type Config } from '../config/config';
import { ClusterStateService } from '../cluster-state/cluster-state.service';
import { RedisAclService } from './redis-acl.service';
import { CurrentMember } from '../http/auth.guard';
import { Endpoint } from '../http/endpoint';
import { notFound } from '../http/errors';
import { PrismaService } from '../database/prisma.service';
import { routingOf, toMemberView } from '../clusters/views';
import { AgentAuthService, type AuthMember } from './agent-auth.service';

@Controller('agents')
export class AgentsController {
  constructor(
    private readonly auth: AgentAuthService,
    private readonly prisma: PrismaService,
    private readonly state: ClusterStateService,
    private readonly acl: RedisAclService,
    @Inject(CONFIG) private readonly settings: Config,
  ) {}

  @Post('challenge')
  @Endpoint({ tag: 'agents', summary: 'A nonce for a member to sign with its own key', auth: 'public', body: AgentChallengeRequest, response: AgentChallenge, status: 201, errors: [404] })
  challenge(@Body() body: z.infer<typeof AgentChallengeRequest>) {
    return this.auth.challenge(body.memberId);
  }

  @Post('token')
  @Endpoint({ tag: 'agents', summary: 'Exchange a signed nonce for a short-lived member token', auth: 'public', body: AgentTokenRequest, response: AgentToken, status: 201 })
  token(@Body() body: z.infer<typeof AgentTokenRequest>) {
    return this.auth.token(body.challengeId, body.signature);
  }

  @Get('config')
  @Endpoint({ tag: 'agents', summary: 'What the member needs to serve: its cluster, routing, members, Redis access (sealed to the cluster key)', auth: 'member', response: AgentConfigView, errors: [404] })
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
      redis: { url: this.settings.AGENT_REDIS_URL ?? this.settings.REDIS_URL, prefix: this.settings.REDIS_PREFIX },
      heartbeatMs: this.settings.HEARTBEAT_MS,
      presenceTtlMs: this.settings.PRESENCE_TTL_MS,
    };
  }

  @Post('redis-credentials')
  @Endpoint({ tag: 'agents', summary: 'Fresh Redis credentials for the member (null when REDIS_AGENT_ACL is off); the password is sealed to the cluster key', auth: 'member', response: AgentRedisCredentials, status: 201, errors: [404] })
  async redisCredentials(@CurrentMember() who: AuthMember) {
    if (!this.acl.enabled) return { username: null, password: null };
    const member = await this.prisma.member.findUnique({ where: { id: who.id }, include: { cluster: true } });
    if (!member) throw notFound('this member no longer exists');
    const creds = await this.acl.issue(member.clusterId, member.id);
    return { username: creds.username, password: sealForCluster(member.cluster.publicKey, creds.password) };
  }

  @Get('me')
  @Endpoint({ tag: 'agents', summary: 'The authenticated member and its cluster', auth: 'member', response: AgentSelf, errors: [404] })
  async me(@CurrentMember() who: AuthMember) {
    const member = await this.prisma.member.findUnique({ where: { id: who.id }, include: { cluster: true } });
    if (!member) throw notFound('this member no longer exists');
    return { member: toMemberView(member), cluster: { id: member.cluster.id, name: member.cluster.name } };
  }
}
