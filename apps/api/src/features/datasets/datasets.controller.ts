import { Body, Controller, Delete, Get, Param, Patch, Post, Query, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { ClusterRef, CreateDatasetRequest, DataExportQuery, DatasetView, IdParams, RefreshListQuery, RefreshView, UpdateDatasetRequest } from '@gateway/domain';
import type { AuthUser } from '../../infra/http/principal';
import { CurrentUser } from '../../infra/http/auth.guard';
import { Endpoint } from '../../infra/http/endpoint';
import { notFound } from '../../infra/http/errors';
import { PrismaService } from '../../infra/database/prisma.service';
import { DatasetsService } from './datasets.service';
import { RefreshesService } from '../refreshes/refreshes.service';
import { exportSnapshot, type SnapshotColumn } from '../refreshes/snapshot-export';

const ListQuery = z.object({ cluster: ClusterRef.optional() }).strict();

@Controller('datasets')
export class DatasetsController {
  constructor(
    private readonly datasets: DatasetsService,
    private readonly refreshes: RefreshesService,
    private readonly prisma: PrismaService,
  ) {}

  @Post()
  @Endpoint({ operationId: 'createDataset', tag: 'datasets', summary: 'Create a dataset: a named query on a data source, with an optional schedule (cron and time zone)', auth: 'user', body: CreateDatasetRequest, response: DatasetView, status: 201, errors: [403, 404, 409] })
  create(@CurrentUser() user: AuthUser, @Body() body: CreateDatasetRequest) {
    return this.datasets.create(user, body);
  }

  @Get()
  @Endpoint({ operationId: 'listDatasets', tag: 'datasets', summary: 'The datasets you can see, optionally of one cluster', auth: 'user', query: ListQuery, response: z.array(DatasetView), errors: [404] })
  list(@CurrentUser() user: AuthUser, @Query() query: z.infer<typeof ListQuery>) {
    return this.datasets.list(user, query.cluster);
  }

  @Get(':id')
  @Endpoint({ operationId: 'getDataset', tag: 'datasets', summary: 'One dataset', auth: 'user', params: IdParams, response: DatasetView, errors: [404] })
  get(@CurrentUser() user: AuthUser, @Param('id') id: string) {
    return this.datasets.get(user, id);
  }

  @Patch(':id')
  @Endpoint({ operationId: 'updateDataset', tag: 'datasets', summary: 'Change a dataset: its query, schedule (null removes it), retry policy, retention, enabled flag', auth: 'user', params: IdParams, body: UpdateDatasetRequest, response: DatasetView, errors: [403, 404, 409] })
  update(@CurrentUser() user: AuthUser, @Param('id') id: string, @Body() body: UpdateDatasetRequest) {
    return this.datasets.update(user, id, body);
  }

  @Delete(':id')
  @Endpoint({ operationId: 'deleteDataset', tag: 'datasets', summary: 'Delete a dataset with its refreshes and snapshots', auth: 'user', params: IdParams, status: 204, errors: [403, 404] })
  async remove(@CurrentUser() user: AuthUser, @Param('id') id: string) {
    await this.datasets.remove(user, id);
  }

  @Post(':id/refreshes')
  @Endpoint({ operationId: 'refreshDataset', tag: 'refreshes', summary: 'Refresh now', auth: 'user', params: IdParams, response: RefreshView, status: 201, errors: [404] })
  refreshNow(@CurrentUser() user: AuthUser, @Param('id') id: string) {
    return this.refreshes.refreshNow(user, id);
  }

  @Get(':id/refreshes')
  @Endpoint({ operationId: 'listRefreshes', tag: 'refreshes', summary: 'The refresh history of a dataset, newest first, with every attempt', auth: 'user', params: IdParams, query: RefreshListQuery, response: z.array(RefreshView), errors: [404] })
  history(@CurrentUser() user: AuthUser, @Param('id') id: string, @Query() query: z.infer<typeof RefreshListQuery>) {
    return this.refreshes.list(user, id, query.limit);
  }

  @Get(':id/data')
  @Endpoint({
    operationId: 'exportDatasetData',
    tag: 'datasets',
    summary: 'Stream the latest successful snapshot as CSV or NDJSON',
    auth: 'user',
    params: IdParams,
    query: DataExportQuery,
    produces: { 'text/csv': 'a header row, then one row per record', 'application/x-ndjson': 'one JSON object per line' },
    errors: [404],
  })
  async data(@CurrentUser() user: AuthUser, @Param('id') id: string, @Query() query: z.infer<typeof DataExportQuery>, @Res() reply: FastifyReply) {
    const dataset = await this.datasets.find(user, id);
    const latest = await this.prisma.refresh.findFirst({ where: { datasetId: id, status: 'succeeded', snapshotAttempt: { not: null } }, orderBy: { finishedAt: 'desc' } });
    if (!latest) throw notFound(`dataset "${dataset.name}" has no successful refresh yet: refresh it first`, 'id');
    const stream = exportSnapshot(this.prisma, latest.id, latest.snapshotAttempt!, (latest.columns as SnapshotColumn[] | null) ?? [], query.format);
    void reply
      .header('content-type', query.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8')
      .header('x-refresh-id', latest.id)
      .header('content-disposition', `attachment; filename="${dataset.name.replace(/[^A-Za-z0-9._-]/g, '_')}.${query.format}"`)
      .send(stream);
  }
}
