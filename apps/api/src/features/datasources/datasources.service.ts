import { Injectable, Logger } from '@nestjs/common';
import {
  NetworkConnection,
  SealedBox,
  SqliteConnection,
  type JobDataSource,
  type CreateDataSourceRequest,
  type DataSourceView,
  type UpdateDataSourceRequest,
} from '@gateway/domain';
import { sealForCluster } from '@gateway/domain/crypto';
import type { AuthUser } from '../../infra/http/principal';
import { PrismaService } from '../../infra/database/prisma.service';
import { Prisma } from '../../generated/prisma/client';
import { isUniqueViolation } from '../../infra/database/errors';
import { badRequest, conflict, forbidden, notFound } from '../../infra/http/errors';
import { AccessService, isUuid } from '../access/access.service';
import { AuditService } from '../audit/audit.service';
import { ClusterStateService } from '../../infra/cluster-state/cluster-state.service';
import { firstIssue } from '../../infra/http/zod-issue';
import { VersionedCache } from '../../infra/cluster-state/versioned-cache';

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

type JobSourceRow = Pick<Row, 'id' | 'name' | 'type' | 'connection' | 'credentials' | 'updatedAt'>;
/** Rows (cached ones: see find) already turned into what a job carries; a row object never changes once read. */
const jobSources = new WeakMap<JobSourceRow, JobDataSource>();

/** What a job carries about a data source: its credentials stay sealed to the cluster key. */
export const toJobDataSource = (d: JobSourceRow): JobDataSource => {
  const known = jobSources.get(d);
  if (known) return known;
  const job: JobDataSource = {
    id: d.id,
    name: d.name,
    type: d.type as JobDataSource['type'],
    connection: d.connection as Record<string, unknown>,
    credentials: d.credentials === null ? null : SealedBox.parse(d.credentials),
    version: d.updatedAt.toISOString(),
  };
  jobSources.set(d, job);
  return job;
};

/** Cluster-wide data sources. Credentials are sealed to the cluster key on arrival and never leave again. */
@Injectable()
export class DataSourcesService {
  private readonly logger = new Logger(DataSourcesService.name);
  private readonly rows: VersionedCache<NonNullable<Awaited<ReturnType<DataSourcesService['loadFromDb']>>>>;

  constructor(
    private readonly prisma: PrismaService,
    private readonly access: AccessService,
    private readonly audit: AuditService,
    private readonly state: ClusterStateService,
  ) {
    this.rows = new VersionedCache(state, (row) => row.clusterId);
  }

  async create(user: AuthUser, clusterRef: string, input: CreateDataSourceRequest): Promise<DataSourceView> {
    const cluster = await this.access.cluster(user, clusterRef, 'admin');
    const credentials = 'credentials' in input ? sealForCluster(cluster.publicKey, JSON.stringify(input.credentials)) : null;
    try {
      const row = await this.prisma.dataSource.create({
        data: { clusterId: cluster.id, name: input.name, type: input.type, connection: input.connection, credentials: credentials ?? Prisma.DbNull },
      });
      await this.state.bumpConfigVersion(cluster.id);
      await this.audit.record(user, { clusterId: cluster.id, action: 'datasource.create', targetType: 'datasource', targetId: row.id, detail: { name: row.name, type: row.type } });
      this.logger.log(`data source ${row.id} (${row.type}) created in cluster ${cluster.id}`);
      return toDataSourceView(row);
    } catch (e) {
      if (isUniqueViolation(e)) throw conflict(`cluster "${cluster.name}" already has a data source named "${input.name}"`, 'name');
      throw e;
    }
  }

  /** Admins see every data source of the cluster; Users see those they were added to. */
  async list(user: AuthUser, clusterRef: string) {
    const cluster = await this.access.cluster(user, clusterRef, 'user');
    const rows = await this.prisma.dataSource.findMany({
      where: { clusterId: cluster.id, ...(cluster.role === 'admin' ? {} : { users: { some: { userId: user.id } } }) },
      orderBy: { name: 'asc' },
    });
    return rows.map(toDataSourceView);
  }

  /**
   * A data source named `<cluster>/<data source>` (names or ids; the PostgreSQL front door's database name) that
   * the user may use: its id, else the error `find` gives.
   */
  async resolve(user: AuthUser, clusterRef: string, ref: string) {
    const cluster = await this.access.cluster(user, clusterRef, 'user', 'database');
    const row = await this.prisma.dataSource.findFirst({ where: { clusterId: cluster.id, ...(isUuid(ref) ? { OR: [{ id: ref }, { name: ref }] } : { name: ref }) }, select: { id: true } });
    if (!row) throw notFound(`cluster "${cluster.name}" has no data source "${ref}"`, 'database');
    return this.find(user, row.id);
  }

  /**
   * The data source with its cluster and members, if the user may use it ('use': an admin of the cluster,
   * or a User added to the data source) or manage it ('admin'). No role on the cluster: "not found".
   */
  async find(user: AuthUser, id: string, need: 'use' | 'admin' = 'use') {
    const row = await this.rows.get(id, () => this.loadFromDb(id));
    const role = row?.cluster.roles.find((r) => r.userId === user.id)?.role;
    if (!row || !role) throw notFound(`no data source ${id} that you can see`, 'id');
    if (role !== 'admin') {
      if (need === 'admin') this.access.check(row.cluster.name, 'user', 'admin');
      if (!row.users.some((u) => u.userId === user.id)) throw forbidden(`you may not use data source "${row.name}": ask an admin of cluster "${row.cluster.name}" to add you`);
    }
    return row;
  }

  private loadFromDb(id: string) {
    return this.prisma.dataSource.findUnique({
      where: { id },
      include: { users: { select: { userId: true } }, cluster: { include: { members: { orderBy: { joinOrder: 'asc' } }, roles: { select: { userId: true, role: true } } } } },
    });
  }

  async users(user: AuthUser, id: string) {
    const ds = await this.find(user, id, 'admin');
    const rows = await this.prisma.dataSourceUser.findMany({ where: { dataSourceId: ds.id }, include: { user: true }, orderBy: { createdAt: 'asc' } });
    return rows.map((r) => ({ userId: r.userId, email: r.user.email, addedAt: r.createdAt.toISOString() }));
  }

  /** Lets a User of the cluster use this data source. */
  async addUser(user: AuthUser, id: string, email: string) {
    const ds = await this.find(user, id, 'admin');
    const target = await this.prisma.user.findUnique({ where: { email }, include: { roles: { where: { clusterId: ds.clusterId } } } });
    if (!target || target.roles.length === 0) throw notFound(`${email} has no role on cluster "${ds.cluster.name}": grant them the User role first`, 'email');
    const row = await this.prisma.dataSourceUser.upsert({
      where: { dataSourceId_userId: { dataSourceId: ds.id, userId: target.id } },
      create: { dataSourceId: ds.id, userId: target.id },
      update: {},
    });
    await this.state.bumpConfigVersion(ds.clusterId);
    await this.audit.record(user, { clusterId: ds.clusterId, action: 'datasource.user.add', targetType: 'datasource', targetId: ds.id, detail: { email } });
    return { userId: target.id, email: target.email, addedAt: row.createdAt.toISOString() };
  }

  async removeUser(user: AuthUser, id: string, email: string) {
    const ds = await this.find(user, id, 'admin');
    const removed = await this.prisma.dataSourceUser.deleteMany({ where: { dataSourceId: ds.id, user: { email } } });
    if (removed.count === 0) throw notFound(`${email} is not a user of data source "${ds.name}"`, 'email');
    await this.state.bumpConfigVersion(ds.clusterId);
    await this.audit.record(user, { clusterId: ds.clusterId, action: 'datasource.user.remove', targetType: 'datasource', targetId: ds.id, detail: { email } });
  }

  async get(user: AuthUser, id: string) {
    return toDataSourceView(await this.find(user, id));
  }

  async update(user: AuthUser, id: string, input: UpdateDataSourceRequest): Promise<DataSourceView> {
    const current = await this.find(user, id, 'admin');
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
      await this.audit.record(user, {
        clusterId: current.clusterId,
        action: 'datasource.update',
        targetType: 'datasource',
        targetId: id,
        detail: { name: row.name, changed: Object.keys(input) },
      });
      return toDataSourceView(row);
    } catch (e) {
      if (isUniqueViolation(e)) throw conflict(`the cluster already has a data source named "${input.name}"`, 'name');
      throw e;
    }
  }

  async remove(user: AuthUser, id: string) {
    const current = await this.find(user, id, 'admin');
    await this.prisma.dataSource.delete({ where: { id } });
    await this.state.bumpConfigVersion(current.clusterId);
    await this.audit.record(user, { clusterId: current.clusterId, action: 'datasource.delete', targetType: 'datasource', targetId: id, detail: { name: current.name } });
    this.logger.log(`data source ${id} deleted from cluster ${current.clusterId}`);
  }
}
