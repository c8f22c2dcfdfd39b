import { Injectable } from '@nestjs/common';
import { nextTick, type CreateDatasetRequest, type UpdateDatasetRequest } from '@gateway/domain';
import type { AuthUser } from '../../infra/http/principal';
import { PrismaService } from '../../infra/database/prisma.service';
import { isUniqueViolation } from '../../infra/database/errors';
import { conflict, notFound } from '../../infra/http/errors';
import { AccessService } from '../access/access.service';
import { AuditService } from '../audit/audit.service';
import { DataSourcesService } from '../datasources/datasources.service';
import { RefreshLifecycle } from '../refreshes/refresh-lifecycle.service';
import { toDatasetView } from './views';

/** Datasets: a named query on a data source, refreshed now or on a schedule, kept as snapshots. */
@Injectable()
export class DatasetsService {
  constructor(
    private readonly prisma: PrismaService,
    private readonly access: AccessService,
    private readonly audit: AuditService,
    private readonly dataSources: DataSourcesService,
    private readonly lifecycle: RefreshLifecycle,
  ) {}

  async create(user: AuthUser, input: CreateDatasetRequest) {
    const ds = await this.dataSources.find(user, input.dataSourceId, 'admin');
    const schedule = input.schedule ?? null;
    try {
      const row = await this.prisma.dataset.create({
        data: {
          clusterId: ds.clusterId,
          dataSourceId: ds.id,
          name: input.name,
          query: input.query,
          cron: schedule?.cron ?? null,
          timezone: schedule?.timezone ?? null,
          enabled: input.enabled ?? true,
          retryAttempts: input.retry?.attempts ?? 3,
          retryBackoffMs: input.retry?.backoffMs ?? 10_000,
          retention: input.retention ?? 5,
          timeoutMs: input.timeoutMs ?? 600_000,
          nextRunAt: schedule ? nextTick(schedule.cron, schedule.timezone, new Date()) : null,
        },
      });
      await this.audit.record(user, { clusterId: ds.clusterId, action: 'dataset.create', targetType: 'dataset', targetId: row.id, detail: { name: row.name, schedule } });
      return toDatasetView(row);
    } catch (e) {
      if (isUniqueViolation(e)) throw conflict(`cluster "${ds.cluster.name}" already has a dataset named "${input.name}"`, 'name');
      throw e;
    }
  }

  /** The dataset if the user may see it: admins of its cluster, and users of its data source. */
  async find(user: AuthUser, id: string, need: 'use' | 'admin' = 'use') {
    const row = await this.prisma.dataset.findFirst({ where: { id, cluster: { roles: { some: { userId: user.id } } } }, include: { cluster: { include: { roles: { where: { userId: user.id } } } } } });
    if (!row) throw notFound(`no dataset ${id} that you can see`, 'id');
    if (row.cluster.roles[0].role !== 'admin') {
      if (need === 'admin') this.access.check(row.cluster.name, 'user', 'admin');
      if (!row.dataSourceId) throw notFound(`no dataset ${id} that you can see`, 'id');
      await this.dataSources.find(user, row.dataSourceId, 'use');
    }
    return row;
  }

  async list(user: AuthUser, clusterRef?: string) {
    const where = clusterRef ? { clusterId: (await this.access.cluster(user, clusterRef, 'user', 'cluster')).id } : {};
    const rows = await this.prisma.dataset.findMany({
      where: {
        ...where,
        cluster: { roles: { some: { userId: user.id } } },
        OR: [{ cluster: { roles: { some: { userId: user.id, role: 'admin' } } } }, { dataSource: { users: { some: { userId: user.id } } } }],
      },
      orderBy: { name: 'asc' },
    });
    return rows.map(toDatasetView);
  }

  async get(user: AuthUser, id: string) {
    return toDatasetView(await this.find(user, id));
  }

  async update(user: AuthUser, id: string, input: UpdateDatasetRequest) {
    const current = await this.find(user, id, 'admin');
    const schedule = input.schedule === undefined ? (current.cron ? { cron: current.cron, timezone: current.timezone ?? 'UTC' } : null) : input.schedule;
    // Before the update: afterwards the scheduler may claim the withdrawn tick again, which is right if the
    // dataset stays scheduled (it is disabled otherwise, and a claim needs it enabled).
    if (input.enabled === false || input.schedule !== undefined) await this.lifecycle.withdrawStaged(id, current.clusterId);
    try {
      const row = await this.prisma.dataset.update({
        where: { id },
        data: {
          name: input.name,
          query: input.query,
          enabled: input.enabled,
          retryAttempts: input.retry?.attempts,
          retryBackoffMs: input.retry?.backoffMs,
          retention: input.retention,
          timeoutMs: input.timeoutMs,
          cron: schedule?.cron ?? null,
          timezone: schedule?.timezone ?? null,
          nextRunAt: schedule ? nextTick(schedule.cron, schedule.timezone, new Date()) : null,
        },
      });
      await this.audit.record(user, { clusterId: current.clusterId, action: 'dataset.update', targetType: 'dataset', targetId: id, detail: { name: row.name, changed: Object.keys(input) } });
      return toDatasetView(row);
    } catch (e) {
      if (isUniqueViolation(e)) throw conflict(`the cluster already has a dataset named "${input.name}"`, 'name');
      throw e;
    }
  }

  async remove(user: AuthUser, id: string) {
    const current = await this.find(user, id, 'admin');
    await this.lifecycle.withdrawStaged(id, current.clusterId);
    await this.prisma.dataset.delete({ where: { id } });
    await this.audit.record(user, { clusterId: current.clusterId, action: 'dataset.delete', targetType: 'dataset', targetId: id, detail: { name: current.name } });
  }
}
