import { Body, Controller, Delete, Param, Patch, Post } from '@nestjs/common';
import { IdParams, MemberView, UpdateMemberRequest } from '@gateway/domain';
import type { AuthUser } from '../../infra/http/principal';
import { CurrentUser } from '../../infra/http/auth.guard';
import { Endpoint } from '../../infra/http/endpoint';
import { MembersService } from './members.service';

@Controller('members')
export class MembersController {
  constructor(private readonly members: MembersService) {}

  @Patch(':id')
  @Endpoint({ operationId: 'updateMember', tag: 'members', summary: 'Enable or disable a member, rename it, describe it', auth: 'user', params: IdParams, body: UpdateMemberRequest, response: MemberView, errors: [403, 404, 409] })
  update(@CurrentUser() user: AuthUser, @Param('id') id: string, @Body() body: UpdateMemberRequest) {
    return this.members.update(user, id, body);
  }

  @Post(':id/promote')
  @Endpoint({ operationId: 'promoteMember', tag: 'members', summary: 'Make a member the primary of its cluster', auth: 'user', params: IdParams, response: MemberView, errors: [403, 404] })
  promote(@CurrentUser() user: AuthUser, @Param('id') id: string) {
    return this.members.promote(user, id);
  }

  @Post(':id/drain')
  @Endpoint({ operationId: 'drainMember', tag: 'members', summary: 'Drain a member: it takes no new work and finishes what it runs (shown as draining, then drained), so it can be stopped and upgraded', auth: 'user', params: IdParams, response: MemberView, status: 200, errors: [403, 404] })
  drain(@CurrentUser() user: AuthUser, @Param('id') id: string) {
    return this.members.drain(user, id, true);
  }

  @Post(':id/resume')
  @Endpoint({ operationId: 'resumeMember', tag: 'members', summary: 'Resume a drained member: it takes work again', auth: 'user', params: IdParams, response: MemberView, status: 200, errors: [403, 404] })
  resume(@CurrentUser() user: AuthUser, @Param('id') id: string) {
    return this.members.drain(user, id, false);
  }

  @Delete(':id')
  @Endpoint({ operationId: 'removeMember', tag: 'members', summary: 'Remove a member from its cluster (not the primary: promote another first)', auth: 'user', params: IdParams, status: 204, errors: [403, 404, 409] })
  async remove(@CurrentUser() user: AuthUser, @Param('id') id: string) {
    await this.members.remove(user, id);
  }
}
