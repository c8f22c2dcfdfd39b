import { Body, Controller, Delete, Get, Param, Put } from '@nestjs/common';
import { z } from 'zod';
import { ClusterRef, EmailParams, GrantRequest, RoleView } from '@gateway/domain';
import type { AuthUser } from '../../infra/http/principal';
import { CurrentUser } from '../../infra/http/auth.guard';
import { Endpoint } from '../../infra/http/endpoint';
import { RolesService } from './roles.service';

const RefParams = z.object({ id: ClusterRef }).strict();

@Controller('clusters/:id/roles')
export class RolesController {
  constructor(private readonly roles: RolesService) {}

  @Get()
  @Endpoint({ operationId: 'listRoles', tag: 'roles', summary: 'Who has which role on a cluster', auth: 'user', params: RefParams, response: z.array(RoleView), errors: [403, 404] })
  list(@CurrentUser() user: AuthUser, @Param('id') id: string) {
    return this.roles.list(user, id);
  }

  @Put()
  @Endpoint({ operationId: 'grantRole', tag: 'roles', summary: 'Grant a user (by email) the Admin or User role on a cluster', auth: 'user', params: RefParams, body: GrantRequest, response: RoleView, errors: [403, 404, 409] })
  grant(@CurrentUser() user: AuthUser, @Param('id') id: string, @Body() body: GrantRequest) {
    return this.roles.grant(user, id, body);
  }

  @Delete(':email')
  @Endpoint({ operationId: 'revokeRole', tag: 'roles', summary: 'Revoke a user\'s role on a cluster (never the last admin)', auth: 'user', params: EmailParams, status: 204, errors: [403, 404, 409] })
  async revoke(@CurrentUser() user: AuthUser, @Param() params: z.infer<typeof EmailParams>) {
    await this.roles.revoke(user, params.id, params.email);
  }
}
