import { Body, Controller, Delete, Get, Param, Patch, Post, Put } from '@nestjs/common';
import { z } from 'zod';
import { ClusterRef, CreateDataSourceRequest, DataSourceUserRequest, DataSourceUserView, DataSourceView, Email, Id, IdParams, UpdateDataSourceRequest } from '@gateway/domain';
import type { AuthUser } from '../../infra/http/principal';
import { CurrentUser } from '../../infra/http/auth.guard';
import { Endpoint } from '../../infra/http/endpoint';
import { DataSourcesService } from './datasources.service';

const ClusterParams = z.object({ id: ClusterRef }).strict();
const DsEmailParams = z.object({ id: Id, email: Email }).strict();

@Controller()
export class DataSourcesController {
  constructor(private readonly dataSources: DataSourcesService) {}

  @Post('clusters/:id/datasources')
  @Endpoint({ operationId: 'createDataSource', tag: 'datasources', summary: 'Add a data source to a cluster; its credentials are sealed to the cluster key', auth: 'user', params: ClusterParams, body: CreateDataSourceRequest, response: DataSourceView, status: 201, errors: [403, 404, 409] })
  create(@CurrentUser() user: AuthUser, @Param('id') id: string, @Body() body: CreateDataSourceRequest) {
    return this.dataSources.create(user, id, body);
  }

  @Get('clusters/:id/datasources')
  @Endpoint({ operationId: 'listDataSources', tag: 'datasources', summary: 'The data sources of a cluster', auth: 'user', params: ClusterParams, response: z.array(DataSourceView), errors: [404] })
  list(@CurrentUser() user: AuthUser, @Param('id') id: string) {
    return this.dataSources.list(user, id);
  }

  @Get('datasources/:id')
  @Endpoint({ operationId: 'getDataSource', tag: 'datasources', summary: 'One data source (never its credentials)', auth: 'user', params: IdParams, response: DataSourceView, errors: [404] })
  get(@CurrentUser() user: AuthUser, @Param('id') id: string) {
    return this.dataSources.get(user, id);
  }

  @Patch('datasources/:id')
  @Endpoint({ operationId: 'updateDataSource', tag: 'datasources', summary: 'Rename a data source, move it, or replace its credentials', auth: 'user', params: IdParams, body: UpdateDataSourceRequest, response: DataSourceView, errors: [404, 409] })
  update(@CurrentUser() user: AuthUser, @Param('id') id: string, @Body() body: UpdateDataSourceRequest) {
    return this.dataSources.update(user, id, body);
  }

  @Get('datasources/:id/users')
  @Endpoint({ operationId: 'listDataSourceUsers', tag: 'datasources', summary: 'Who may use a data source besides the cluster admins', auth: 'user', params: IdParams, response: z.array(DataSourceUserView), errors: [403, 404] })
  users(@CurrentUser() user: AuthUser, @Param('id') id: string) {
    return this.dataSources.users(user, id);
  }

  @Put('datasources/:id/users')
  @Endpoint({ operationId: 'addDataSourceUser', tag: 'datasources', summary: 'Let a User of the cluster (by email) use a data source', auth: 'user', params: IdParams, body: DataSourceUserRequest, response: DataSourceUserView, errors: [403, 404] })
  addUser(@CurrentUser() user: AuthUser, @Param('id') id: string, @Body() body: z.infer<typeof DataSourceUserRequest>) {
    return this.dataSources.addUser(user, id, body.email);
  }

  @Delete('datasources/:id/users/:email')
  @Endpoint({ operationId: 'removeDataSourceUser', tag: 'datasources', summary: 'Stop a user from using a data source', auth: 'user', params: DsEmailParams, status: 204, errors: [403, 404] })
  async removeUser(@CurrentUser() user: AuthUser, @Param() params: z.infer<typeof DsEmailParams>) {
    await this.dataSources.removeUser(user, params.id, params.email);
  }

  @Delete('datasources/:id')
  @Endpoint({ operationId: 'deleteDataSource', tag: 'datasources', summary: 'Delete a data source', auth: 'user', params: IdParams, status: 204, errors: [404] })
  async remove(@CurrentUser() user: AuthUser, @Param('id') id: string) {
    await this.dataSources.remove(user, id);
  }
}
