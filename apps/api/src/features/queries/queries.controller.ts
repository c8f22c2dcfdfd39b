import { Body, Controller, Param, Post } from '@nestjs/common';
import { ConnectionTestResult, IdParams, QueryRequest, QueryResult } from '@gateway/domain';
import type { AuthUser } from '../../infra/http/principal';
import { CurrentUser } from '../../infra/http/auth.guard';
import { Endpoint } from '../../infra/http/endpoint';
import { QueryService } from './query.service';

@Controller('datasources')
export class QueriesController {
  constructor(private readonly queries: QueryService) {}

  @Post(':id/query')
  @Endpoint({
    operationId: 'runQuery',
    tag: 'queries',
    summary: 'Run a read-only query (DirectQuery) through the cluster: on the primary, or another online member when it cannot serve',
    auth: 'user',
    params: IdParams,
    body: QueryRequest,
    response: QueryResult,
    streamRows: true,
    errors: [404, 408, 413, 422, 502, 503, 504],
  })
  query(@CurrentUser() user: AuthUser, @Param('id') id: string, @Body() body: QueryRequest) {
    return this.queries.query(user, id, body);
  }

  @Post(':id/test')
  @Endpoint({ operationId: 'testDataSource', tag: 'queries', summary: 'Test the connection to a data source through the cluster', auth: 'user', params: IdParams, response: ConnectionTestResult, errors: [404, 502, 503, 504] })
  test(@CurrentUser() user: AuthUser, @Param('id') id: string) {
    return this.queries.testConnection(user, id);
  }
}
