import { Injectable, Logger } from '@nestjs/common';
import type { AuthUser } from '../../infra/http/principal';
import { PrismaService } from '../../infra/database/prisma.service';
import { conflict, notFound } from '../../infra/http/errors';
import { RefreshLifecycle, REFRESH_INCLUDE } from './refresh-lifecycle.service';
import { AuditService } from '../audit/audit.service';
import { DatasetsService } from '../datasets/datasets.service';
import { toRefreshView } from '../datasets/views';

/** Refreshes as users see them: start one now, list the history, read one, cancel one. */
@Injectable()
export class RefreshesService {
  private readonly logger = new Logger(RefreshesService.name);

  constructor(
    private readonly prisma: PrismaService,
    private readonly lifecycle: RefreshLifecycle,
    private readonly datasets: DatasetsService,
    private readonly audit: AuditService,
  ) {}

  async refreshNow(user: AuthUser, datasetId: string) {
    const dataset = await this.datasets.find(user, datasetId);
    const refresh = await this.lifecycle.queueNow(dataset, user.email);
    await this.audit.record(user, { clusterId: dataset.clusterId, action: 'dataset.refresh', targetType: 'dataset', targetId: datasetId, detail: { refreshId: refresh.id } });
    this.logger.log(`refresh ${refresh.id} of dataset ${datasetId} queued by user ${user.id}`);
    return toRefreshView(refresh);
  }

  async list(user: AuthUser, datasetId: string, limit: number) {
    await this.datasets.find(user, datasetId);
    const rows = await this.prisma.refresh.findMany({ where: { datasetId }, include: REFRESH_INCLUDE, orderBy: { createdAt: 'desc' }, take: limit });
    return rows.map(toRefreshView);
  }

  private async find(user: AuthUser, id: string) {
    const refresh = await this.prisma.refresh.findUnique({ where: { id }, include: { ...REFRESH_INCLUDE, dataset: true } });
    if (!refresh) throw notFound(`no refresh ${id} that you can see`, 'id');
    try {
      await this.datasets.find(user, refresh.datasetId);
    } catch {
      throw notFound(`no refresh ${id} that you can see`, 'id');
    }
    return refresh;
  }

  async get(user: AuthUser, id: string) {
    return toRefreshView(await this.find(user, id));
  }

  /** A queued refresh is cancelled at once; a running one is stopped by its agent at its next check. */
  async cancel(user: AuthUser, id: string) {
    const refresh = await this.find(user, id);
    if (!['queued', 'running'].includes(refresh.status)) throw conflict(`refresh ${id} is already ${refresh.status}`, 'id');
    const outcome = await this.lifecycle.cancel(id, refresh.dataset.clusterId, user.email);
    if (outcome === 'ended') throw conflict(`refresh ${id} ended meanwhile`, 'id');
    await this.audit.record(user, { clusterId: refresh.dataset.clusterId, action: 'refresh.cancel', targetType: 'refresh', targetId: id });
    return toRefreshView(await this.prisma.refresh.findUniqueOrThrow({ where: { id }, include: REFRESH_INCLUDE }));
  }
}
