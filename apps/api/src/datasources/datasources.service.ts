import { Injectable, Logger } from '@nestjs/common';
import {
  NetworkConnection,
  SqliteConnection,
  type CreateDataSourceRequest,
  type DataSourceView,
  type UpdateDataSourceRequest,
} from '@gateway/domain';
import { sealForCluster } from '@gateway/domain/crypto';
import type { AuthUser } from '../auth/auth.service';
import { PrismaService } from '../database/prisma.service';
import { Prisma } from '../generated/prisma/client';
import { isUniqueViolation } from '../database/errors';
import { badRequest, conflict, notFound } from '../http/errors';
import { ClustersService } from '../clusters/clusters.service';
import { ClusterStateService } from '../cluster-state/cluster-state.service';
import { firstIssue } from '../http/zod-issue';
import { VersionedCache } from '../cluster-state/versioned-cache';

type Row = { id: string; clusterId: string; name: string; type: string; connection: unknown; credentials: unknown; createdAt: Date; updatedAt: Date };

export const toDataSourceView = (d: Row): DataSourceView => ({
  id: d.id,
  clusterId: d.clusterId,
  name: d.name,
  type: d.type as DataSourceView['type'],
  connection: d.connection as Record<string, unknown>,
  hasCredentials: d.credentials !== null,
  createdAt: d.createdAt.toISOString(),
  updatedAt: d.updatedAt.toISOString(),
});

/** Cluster-wide data sources. Credentials are sealed to the cluster key on arrival and never leave again. */
@Injectable()
export class DataSourcesService {
  private readonly logger = new Logger(DataSourcesService.name);
  private readonly rows: VersionedCache<NonNullable<Awaited<ReturnType<DataSourcesService['loadFromDb']>>>>;

  constructor(
    private readonly prisma: PrismaService,
    private readonly clusters: ClustersService,
    private readonly state: ClusterStateService,
  ) {
    this.rows = new VersionedCache(state, (row) => row.clusterId);
  }

  async create(user: AuthUser, clusterRef: string, input: CreateDataSourceRequest): Promise<DataSourceView> {
    const cluster = await this.clusters.resolve(user, clusterRef, 'id');
    const credentials = 'credentials' in input ? sealForCluster(cluster.publicKey, JSON.stringify(input.credentials)) : null;
    try {
      const row = await this.prisma.dataSource.create({
        data: { clusterId: cluster.id, name: input.name, type: input.type, connection: input.connection, credentials: credentials ?? Prisma.DbNull },
      });
      await this.state.bumpConfigVersion(cluster.id);
      this.logger.log(`data source ${row.id} (${row.type}) created in cluster ${cluster.id}`);
      return toDataSourceView(row);
    } catch (e) {
      if (isUniqueViolation(e)) throw conflict(`cluster "${cluster.name}" already has a data source named "${input.name}"`, 'name');
      throw e;
    }
  }

  async list(user: AuthUser, clusterRef: string) {
    const cluster = await this.clusters.resolve(user, clusterRef, 'id');
    const rows = await this.prisma.dataSource.findMany({ where: { clusterId: cluster.id }, orderBy: { name: 'asc' } });
    return rows.map(toDataSourceView);
  }

  /** The data source with its cluster and members, if the user may use it; otherwise "not found". */
  async find(user: AuthUser, id: string) {
    const row = await this.rows.get(id, () => this.loadFromDb(id));
    if (!row || row.cluster.ownerId !== user.id) throw notFound(`no data source ${id} that you can use`, 'id');
    return row;
  }

  private loadFromDb(id: string) {
    return this.prisma.dataSource.findUnique({
      where: { id },
      include: { cluster: { include: { members: { orderBy: { joinOrder: 'asc' } } } } },
    });
  }

  async get(user: AuthUser, id: string) {
    return toDataSourceView(await this.find(user, id));
  }

  async update(user: AuthUser, id: string, input: UpdateDataSourceRequest): Promise<DataSourceView> {
    const current = await this.find(user, id);
    const data: Prisma.DataSourceUpdateInput = {};
    if (input.name !== undefined) data.name = input.name;
    if (input.connection !== undefined) {
      const schema = current.type === 'sqlite' ? SqliteConnection : NetworkConnection;
      const parsed = schema.safeParse(input.connection);
      if (!parsed.success) {
        const { field, message } = firstIssue(parsed.error, 'connection');
        throw badRequest(`a ${current.type} data source: connection.${message}`, `connection.${field}`);
      }
      data.connection = parsed.data;
    }
    if (input.credentials !== undefined) {
      if (current.type === 'sqlite') throw badRequest('a sqlite data source takes no credentials', 'credentials');
      data.credentials = sealForCluster(current.cluster.publicKey, JSON.stringify(input.credentials));
    }
    try {
      const row = await this.prisma.dataSource.update({ where: { id }, data });
      await this.state.bumpConfigVersion(current.clusterId);
      return toDataSourceView(row);
    } catch (e) {
      if (isUniqueViolation(e)) throw conflict(`the cluster already has a data source named "${input.name}"`, 'name');
      throw e;
    }
  }

  async remove(user: AuthUser, id: string) {
    const current = await this.find(user, id);
    await this.prisma.dataSource.delete({ where: { id } });
    await this.state.bumpConfigVersion(current.clusterId);
    this.logger.log(`data source ${id} deleted from cluster ${current.clusterId}`);
  }
}
