import { isFullDataSource, NetworkConnection, PasswordCredentials, SqliteConnection, type DataSourceRef, type JobDataSource } from '@gateway/domain';
import { openFromCluster } from '@gateway/domain/crypto';
import { MysqlConnector } from './mysql';
import { PostgresConnector } from './postgres';
import { SqliteConnector } from './sqlite';
import { ConnectorError, type Connector } from './types';

export * from './types';

/** Opens the sealed credentials (in memory only) and builds the connector for a data source. */
/** `liveConnections`: how many live queries the member runs at once, so that its pools never cap that. */
export function createConnector(ds: JobDataSource, clusterPrivateKeys: string[], liveConnections = 16): Connector {
  if (ds.type === 'sqlite') {
    const c = SqliteConnection.safeParse(ds.connection);
    if (!c.success) throw new ConnectorError('bad_request', `data source "${ds.name}" has no valid file path`);
    return new SqliteConnector(c.data.path);
  }
  const connection = NetworkConnection.safeParse(ds.connection);
  if (!connection.success) throw new ConnectorError('bad_request', `data source "${ds.name}" has no valid host, port and database`);
  if (!ds.credentials) throw new ConnectorError('credentials', `data source "${ds.name}" has no credentials`);
  let credentials;
  // The current cluster key, then the one before it (right after a rotation, work sealed to either may arrive).
  for (const key of clusterPrivateKeys) {
    try {
      credentials = PasswordCredentials.parse(JSON.parse(openFromCluster(key, ds.credentials)));
      break;
    } catch {
      // the next key
    }
  }
  if (!credentials) throw new ConnectorError('credentials', `the credentials of data source "${ds.name}" cannot be opened with this member's cluster key`);
  const settings = { ...connection.data, ...credentials };
  return ds.type === 'postgres' ? new PostgresConnector(settings, liveConnections) : new MysqlConnector(settings, liveConnections);
}

/** One connector (and its pool) per data source version; a changed data source gets a fresh one. */
export class ConnectorCache {
  private readonly cache = new Map<string, { version: string; connector: Connector }>();

  private keys: string[];

  constructor(
    clusterPrivateKey: string,
    private readonly liveConnections = 16,
  ) {
    this.keys = [clusterPrivateKey];
  }

  /** A rotated cluster key: used first from now on; the previous one is kept for work sealed before the rotation. */
  rotateKey(newPrivateKey: string) {
    if (this.keys[0] === newPrivateKey) return;
    this.keys = [newPrivateKey, this.keys[0]];
  }

  /** Data sources as last given in full, so that later work can name them by id and version only. */
  private readonly definitions = new Map<string, JobDataSource>();

  /** The connector of a data source given in full, or by the id and version of one given before. */
  get(given: JobDataSource | DataSourceRef): Connector {
    let ds: JobDataSource;
    if (isFullDataSource(given)) {
      ds = given;
      this.definitions.set(ds.id, ds);
    } else {
      const known = this.definitions.get(given.id);
      if (!known || known.version !== given.version) {
        throw new ConnectorError('bad_request', `data source ${given.id} (version ${given.version}) was never sent to this member in full: the control plane must send it again`);
      }
      ds = known;
    }
    const hit = this.cache.get(ds.id);
    if (hit && hit.version === ds.version) return hit.connector;
    if (hit) void hit.connector.close().catch(() => undefined);
    const connector = createConnector(ds, this.keys, this.liveConnections);
    this.cache.set(ds.id, { version: ds.version, connector });
    return connector;
  }

  async closeAll() {
    await Promise.all([...this.cache.values()].map((e) => e.connector.close().catch(() => undefined)));
    this.cache.clear();
  }
}
