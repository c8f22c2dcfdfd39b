import { Body, Controller, Param, Patch } from '@nestjs/common';
import { IdParams, MemberView, UpdateMemberRequest } from '@gateway/domain';
import type { AuthUser } from '../auth/auth.service';
import { CurrentUser } from '../http/auth.guard';
import { Endpoint } from '../http/endpoint';
import { notFound, conflict } from '../http/errors';
import { PrismaService } from '../database/prisma.service';
import { isUniqueViolation } from '../database/errors';
import { ClusterStateService } from '../cluster-state/cluster-state.service';
import { toMemberView } from '../clusters/views';

@Controller('members')
export class MembersController {
  constructor(
    private readonly prisma: PrismaService,
    private readonly state: ClusterStateService,
  ) {}

  @Patch(':id')
  @Endpoint({ tag: 'members', summary: 'Enable or disable a member, rename it, describe it', auth: 'user', params: IdParams, body: UpdateMemberRequest, response: MemberView, errors: [404, 409] })
  async update(@CurrentUser() user: AuthUser, @Param('id') id: string, @Body() body: UpdateMemberRequest) {
    const member = await this.prisma.member.findFirst({ where: { id, cluster: { ownerId: user.id } } });
    if (!member) throw notFound(`no member ${id} that you can manage`, 'id');
    try {
      const updated = await this.prisma.member.update({ where: { id }, data: body });
      await this.state.bumpConfigVersion(member.clusterId);
      return toMemberView(updated);
    } catch (e) {
      if (isUniqueViolation(e)) throw conflict(`the cluster already has a member named "${body.name}"`, 'name');
      throw e;
    }
  }
}
