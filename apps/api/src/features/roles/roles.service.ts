import { Injectable } from '@nestjs/common';
import type { GrantRequest, RoleView } from '@gateway/domain';
import type { AuthUser } from '../../infra/http/principal';
import { PrismaService } from '../../infra/database/prisma.service';
import { conflict, notFound } from '../../infra/http/errors';
import { AccessService } from '../access/access.service';
import { AuditService } from '../audit/audit.service';
import { ClusterStateService } from '../../infra/cluster-state/cluster-state.service';

/** Per-cluster roles; a grant or revoke applies to the whole cluster. */
@Injectable()
export class RolesService {
  constructor(
    private readonly prisma: PrismaService,
    private readonly access: AccessService,
    private readonly audit: AuditService,
    private readonly state: ClusterStateService,
  ) {}

  async list(user: AuthUser, ref: string): Promise<RoleView[]> {
    const cluster = await this.access.cluster(user, ref, 'admin');
    const roles = await this.prisma.clusterRole.findMany({ where: { clusterId: cluster.id }, include: { user: true }, orderBy: { createdAt: 'asc' } });
    return roles.map((r) => ({ userId: r.userId, email: r.user.email, role: r.role as RoleView['role'], grantedAt: r.createdAt.toISOString() }));
  }

  async grant(user: AuthUser, ref: string, input: GrantRequest): Promise<RoleView> {
    const cluster = await this.access.cluster(user, ref, 'admin');
    const target = await this.prisma.user.findUnique({ where: { email: input.email } });
    if (!target) throw notFound(`no account for ${input.email}: invite them first (POST /api/users/invite)`, 'email');
    const existing = await this.prisma.clusterRole.findUnique({ where: { clusterId_userId: { clusterId: cluster.id, userId: target.id } } });
    if (existing?.role === 'admin' && input.role !== 'admin') await this.assertNotLastAdmin(cluster.id, cluster.name, target.email);
    const role = await this.prisma.clusterRole.upsert({
      where: { clusterId_userId: { clusterId: cluster.id, userId: target.id } },
      create: { clusterId: cluster.id, userId: target.id, role: input.role },
      update: { role: input.role },
    });
    await this.state.bumpConfigVersion(cluster.id);
    await this.audit.record(user, { clusterId: cluster.id, action: 'role.grant', targetType: 'user', targetId: target.id, detail: { email: target.email, role: input.role } });
    return { userId: target.id, email: target.email, role: role.role as RoleView['role'], grantedAt: role.createdAt.toISOString() };
  }

  async revoke(user: AuthUser, ref: string, email: string) {
    const cluster = await this.access.cluster(user, ref, 'admin');
    const role = await this.prisma.clusterRole.findFirst({ where: { clusterId: cluster.id, user: { email } }, include: { user: true } });
    if (!role) throw notFound(`${email} has no role on cluster "${cluster.name}"`, 'email');
    if (role.role === 'admin') await this.assertNotLastAdmin(cluster.id, cluster.name, email);
    await this.prisma.clusterRole.delete({ where: { clusterId_userId: { clusterId: cluster.id, userId: role.userId } } });
    await this.prisma.dataSourceUser.deleteMany({ where: { userId: role.userId, dataSource: { clusterId: cluster.id } } });
    await this.state.bumpConfigVersion(cluster.id);
    await this.audit.record(user, { clusterId: cluster.id, action: 'role.revoke', targetType: 'user', targetId: role.userId, detail: { email, role: role.role } });
  }

  private async assertNotLastAdmin(clusterId: string, name: string, email: string) {
    const admins = await this.prisma.clusterRole.count({ where: { clusterId, role: 'admin' } });
    if (admins <= 1) throw conflict(`${email} is the last admin of cluster "${name}": grant another admin first`, 'email');
  }
}
