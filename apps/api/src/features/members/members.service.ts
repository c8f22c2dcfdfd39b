import { Injectable, Logger } from '@nestjs/common';
import type { UpdateMemberRequest } from '@gateway/domain';
import type { AuthUser } from '../../infra/http/principal';
import { PrismaService } from '../../infra/database/prisma.service';
import { isUniqueViolation } from '../../infra/database/errors';
import { conflict, notFound } from '../../infra/http/errors';
import { AccessService } from '../access/access.service';
import { AuditService } from '../audit/audit.service';
import { AgentAuthService } from '../agents/agent-auth.service';
import { ClusterStateService } from '../../infra/cluster-state/cluster-state.service';
import { toMemberView } from '../clusters/views';

/** Member management: enable or disable, rename, promote to primary, remove. Admins of the member's cluster only. */
@Injectable()
export class MembersService {
  private readonly logger = new Logger(MembersService.name);

  constructor(
    private readonly prisma: PrismaService,
    private readonly access: AccessService,
    private readonly audit: AuditService,
    private readonly state: ClusterStateService,
    private readonly agentAuth: AgentAuthService,
  ) {}

  private async find(user: AuthUser, id: string) {
    const member = await this.prisma.member.findFirst({ where: { id, cluster: { roles: { some: { userId: user.id } } } }, include: { cluster: { include: { roles: { where: { userId: user.id } } } } } });
    if (!member) throw notFound(`no member ${id} that you can see`, 'id');
    this.access.check(member.cluster.name, member.cluster.roles[0].role as 'admin' | 'user', 'admin');
    return member;
  }

  async update(user: AuthUser, id: string, input: UpdateMemberRequest) {
    const member = await this.find(user, id);
    try {
      const updated = await this.prisma.member.update({ where: { id }, data: input });
      await this.state.bumpConfigVersion(member.clusterId);
      await this.audit.record(user, { clusterId: member.clusterId, action: 'member.update', targetType: 'member', targetId: id, detail: { name: member.name, ...input } });
      return toMemberView(updated);
    } catch (e) {
      if (isUniqueViolation(e)) throw conflict(`the cluster already has a member named "${input.name}"`, 'name');
      throw e;
    }
  }

  /**
   * Drain: the member takes no new work (routing passes it over from now on, on every instance), finishes what it
   * runs, and shows as draining, then as drained once it runs nothing: it may then be stopped and upgraded while
   * its peers serve. Resume undoes it.
   */
  async drain(user: AuthUser, id: string, on: boolean) {
    const member = await this.find(user, id);
    const updated = await this.prisma.member.update({ where: { id }, data: { drainRequestedAt: on ? (member.drainRequestedAt ?? new Date()) : null } });
    await this.state.bumpConfigVersion(member.clusterId);
    await this.audit.record(user, { clusterId: member.clusterId, action: on ? 'member.drain' : 'member.resume', targetType: 'member', targetId: id, detail: { name: member.name } });
    this.logger.log(`member ${id} of cluster ${member.clusterId} ${on ? 'drained: it takes no new work' : 'resumed'} (by user ${user.id})`);
    return toMemberView(updated);
  }

  /** Makes the member the cluster's primary (the previous primary becomes a secondary). */
  async promote(user: AuthUser, id: string) {
    const member = await this.find(user, id);
    const updated = await this.prisma.$transaction(async (tx) => {
      // One primary per cluster is a unique index: clear the old one before setting the new one.
      await tx.member.updateMany({ where: { clusterId: member.clusterId, isPrimary: true }, data: { isPrimary: false } });
      return tx.member.update({ where: { id }, data: { isPrimary: true } });
    });
    await this.state.bumpConfigVersion(member.clusterId);
    await this.audit.record(user, { clusterId: member.clusterId, action: 'member.promote', targetType: 'member', targetId: id, detail: { name: member.name } });
    this.logger.log(`member ${id} of cluster ${member.clusterId} promoted to primary`);
    return toMemberView(updated);
  }

  /** Removes a member; the primary only after another member was promoted (or with its whole cluster). */
  async remove(user: AuthUser, id: string) {
    const member = await this.find(user, id);
    if (member.isPrimary) {
      throw conflict(`member "${member.name}" is the primary of cluster "${member.cluster.name}": promote another member first, or delete the cluster`);
    }
    await this.prisma.member.delete({ where: { id } });
    this.agentAuth.forgetMember(id);
    await this.state.bumpConfigVersion(member.clusterId);
    await this.audit.record(user, { clusterId: member.clusterId, action: 'member.remove', targetType: 'member', targetId: id, detail: { name: member.name } });
  }
}
