import { TtlCache } from '../common/ttl-cache';
import type { ClusterStateService } from './cluster-state.service';

/**
 * Remembers rows that belong to a cluster together with the cluster's config version, which every
 * management change bumps: one Redis GET then tells whether a remembered row is still current. This keeps
 * PostgreSQL off the hot path of live queries.
 */
export class VersionedCache<T> {
  private readonly rows = new TtlCache<{ row: T; version: number }>(60_000);

  constructor(
    private readonly state: ClusterStateService,
    private readonly clusterOf: (row: T) => string,
  ) {}

  async get(key: string, load: () => Promise<T | null>): Promise<T | null> {
    const cached = this.rows.get(key);
    let clusterId = cached && this.clusterOf(cached.row);
    if (!clusterId) {
      const first = await load();
      if (!first) return null;
      clusterId = this.clusterOf(first);
    }
    // The version is read before the row: a change landing in between makes the next call reload, never
    // leaves a stale row looking current.
    const version = await this.state.configVersion(clusterId);
    if (cached && cached.version === version) return cached.row;
    const row = await load();
    if (!row) {
      this.rows.delete(key);
      return null;
    }
    this.rows.set(key, { row, version });
    return row;
  }
}
