import { Body, Controller, Delete, Param, Patch, Post } from '@nestjs/common';
import { IdParams, MemberView, UpdateMemberRequest } from '@gateway/domain';
import type { AuthUser } from '../auth/auth.service';
import { CurrentUser } from '../http/auth.guard';
import { Endpoint } from '../http/endpoint';
import { MembersService } from './members.service';

@Controller('members')
export class MembersController {
  constructor(private readonly members: MembersService) {}

  @Patch(':id')
  @Endpoint({ tag: 'members', summary: 'Enable or disable a member, rename it, describe it', auth: 'user', params: IdParams, body: UpdateMemberRequest, response: MemberView, errors: [403, 404, 409] })
  update(@CurrentUser() user: AuthUser, @Param('id') id: string, @Body() body: UpdateMemberRequest) {
    return this.members.update(user, id, body);
  }

  @Post(':id/promote')
  @Endpoint({ tag: 'members', summary: 'Make a member the primary of its cluster', auth: 'user', params: IdParams, response: MemberView, errors: [403, 404] })
  promote(@CurrentUser() user: AuthUser, @Param('id') id: string) {
    return this.members.promote(user, id);
  }

  @Delete(':id')
  @Endpoint({ tag: 'members', summary: 'Remove a member from its cluster (not the primary: promote another first)', auth: 'user', params: IdParams, status: 204, errors: [403, 404, 409] })
  async remove(@CurrentUser() user: AuthUser, @Param('id') id: string) {
    await this.members.remove(user, id);
  }
}
