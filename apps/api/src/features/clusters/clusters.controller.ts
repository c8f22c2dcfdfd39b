import { Body, Controller, Delete, Get, Param, Patch, Post, Query } from '@nestjs/common';
import { z } from 'zod';
import {
  AuditEventView,
  AuditQuery,
  ClusterRef,
  ClusterTrafficView,
  ClusterView,
  CreateClusterRequest,
  Installed,
  JoinChallenge,
  JoinCompleteRequest,
  JoinStartRequest,
  MemberStatusView,
  KeyRotationContext,
  PingResult,
  RotateKeyRequest,
  RotateRecoveryKeyRequest,
  UpdateClusterRequest,
} from '@gateway/domain';
import type { AuthUser } from '../../infra/http/principal';
import { CurrentUser } from '../../infra/http/auth.guard';
import { Endpoint } from '../../infra/http/endpoint';
import { QueryService } from '../queries/query.service';
import { QueryStatsService } from '../queries/query-stats.service';
import { AuditService } from '../audit/audit.service';
import { ClustersService } from './clusters.service';

const RefParams = z.object({ id: ClusterRef }).strict();

@Controller('clusters')
export class ClustersController {
  constructor(
    private readonly clusters: ClustersService,
    private readonly queries: QueryService,
    private readonly stats: QueryStatsService,
    private readonly audit: AuditService,
  ) {}

  @Post()
  @Endpoint({ operationId: 'createCluster', tag: 'clusters', summary: 'Create a cluster with the installing host as its primary (used by `gateway install`)', auth: 'user', body: CreateClusterRequest, response: Installed, status: 201, errors: [409] })
  create(@CurrentUser() user: AuthUser, @Body() body: CreateClusterRequest) {
    return this.clusters.create(user, body);
  }

  @Post('join')
  @Endpoint({ operationId: 'startJoin', tag: 'clusters', summary: 'Start joining a cluster: returns its sealed key and a nonce to sign', auth: 'user', body: JoinStartRequest, response: JoinChallenge, status: 201, errors: [403, 404] })
  startJoin(@CurrentUser() user: AuthUser, @Body() body: z.infer<typeof JoinStartRequest>) {
    return this.clusters.startJoin(user, body.cluster);
  }

  @Post('join/complete')
  @Endpoint({ operationId: 'completeJoin', tag: 'clusters', summary: 'Finish joining with a signature made by the cluster private key', auth: 'user', body: JoinCompleteRequest, response: Installed, status: 201, errors: [404, 409] })
  completeJoin(@CurrentUser() user: AuthUser, @Body() body: JoinCompleteRequest) {
    return this.clusters.completeJoin(user, body);
  }

  @Get()
  @Endpoint({ operationId: 'listClusters', tag: 'clusters', summary: 'The clusters you can see, with member and online counts (no member list)', auth: 'user', response: z.array(ClusterView) })
  list(@CurrentUser() user: AuthUser) {
    return this.clusters.list(user);
  }

  @Get(':id')
  @Endpoint({ operationId: 'getCluster', tag: 'clusters', summary: 'One cluster, by id or name', auth: 'user', params: RefParams, response: ClusterView, errors: [404] })
  get(@CurrentUser() user: AuthUser, @Param('id') id: string) {
    return this.clusters.get(user, id);
  }

  @Patch(':id')
  @Endpoint({ operationId: 'updateCluster', tag: 'clusters', summary: 'Change a cluster: name, description, contact, routing (mode and CPU/memory thresholds)', auth: 'user', params: RefParams, body: UpdateClusterRequest, response: ClusterView, errors: [403, 404, 409] })
  update(@CurrentUser() user: AuthUser, @Param('id') id: string, @Body() body: UpdateClusterRequest) {
    return this.clusters.update(user, id, body);
  }

  @Get(':id/key-rotation')
  @Endpoint({ operationId: 'getKeyRotationContext', tag: 'clusters', summary: 'What a member host needs to rotate the cluster key: the sealed credentials (ciphertext only) and each member\'s box key', auth: 'user', params: RefParams, response: KeyRotationContext, errors: [403, 404] })
  keyRotation(@CurrentUser() user: AuthUser, @Param('id') id: string) {
    return this.clusters.keyRotationContext(user, id);
  }

  @Post(':id/key-rotation')
  @Endpoint({ operationId: 'rotateClusterKey', tag: 'clusters', summary: 'Rotate the cluster key pair (made and signed on a member host): credentials sealed again to the new key, the new private key sealed to each member', auth: 'user', params: RefParams, body: RotateKeyRequest, response: z.object({ generation: z.number().int() }), status: 200, errors: [400, 401, 403, 404, 409] })
  rotateKey(@CurrentUser() user: AuthUser, @Param('id') id: string, @Body() body: RotateKeyRequest) {
    return this.clusters.rotateKey(user, id, body);
  }

  @Post(':id/recovery-key')
  @Endpoint({ operationId: 'rotateRecoveryKey', tag: 'clusters', summary: 'Replace the cluster key envelope with one sealed under a new recovery key (made on a member host, signed with the cluster key); the old recovery key no longer joins', auth: 'user', params: RefParams, body: RotateRecoveryKeyRequest, status: 204, errors: [401, 403, 404] })
  async rotateRecoveryKey(@CurrentUser() user: AuthUser, @Param('id') id: string, @Body() body: RotateRecoveryKeyRequest) {
    await this.clusters.rotateRecoveryKey(user, id, body);
  }

  @Delete(':id')
  @Endpoint({ operationId: 'deleteCluster', tag: 'clusters', summary: 'Delete a cluster with its members, data sources, and its queue and keys in Redis', auth: 'user', params: RefParams, status: 204, errors: [403, 404] })
  async remove(@CurrentUser() user: AuthUser, @Param('id') id: string) {
    await this.clusters.remove(user, id);
  }

  @Get(':id/traffic')
  @Endpoint({ operationId: 'getClusterTraffic', tag: 'clusters', summary: "The last hour of the cluster's live queries per minute by serving member, its error rate, and refreshes ended by outcome", auth: 'user', params: RefParams, response: ClusterTrafficView, errors: [404] })
  async traffic(@CurrentUser() user: AuthUser, @Param('id') id: string) {
    return this.stats.traffic(await this.clusters.withMembers(user, id));
  }

  @Post(':id/ping')
  @Endpoint({ operationId: 'pingCluster', tag: 'clusters', summary: 'Send a no-op through the cluster: who serves it, and how long the whole path takes', auth: 'user', params: RefParams, response: PingResult, errors: [404, 503, 504] })
  async ping(@CurrentUser() user: AuthUser, @Param('id') id: string) {
    return this.queries.ping(await this.clusters.withMembers(user, id));
  }

  @Get(':id/members')
  @Endpoint({ operationId: 'listMembers', tag: 'members', summary: 'The members of a cluster with their online status, load and last heartbeat', auth: 'user', params: RefParams, response: z.array(MemberStatusView), errors: [403, 404] })
  members(@CurrentUser() user: AuthUser, @Param('id') id: string) {
    return this.clusters.members(user, id);
  }

  @Get(':id/audit')
  @Endpoint({ operationId: 'listAuditEvents', tag: 'audit', summary: 'The audit log of a cluster, newest first', auth: 'user', params: RefParams, query: AuditQuery, response: z.array(AuditEventView), errors: [403, 404] })
  async auditLog(@CurrentUser() user: AuthUser, @Param('id') id: string, @Query() query: z.infer<typeof AuditQuery>) {
    const cluster = await this.clusters.resolve(user, id, 'id');
    return this.audit.list(cluster.id, query.limit, query.before);
  }
}
