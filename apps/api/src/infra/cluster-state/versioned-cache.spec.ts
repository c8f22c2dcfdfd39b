import type { ClusterStateService } from './cluster-state.service';
import { VersionedCache } from './versioned-cache';

describe('VersionedCache', () => {
  let version = 0;
  const state = { configVersion: async () => version } as unknown as ClusterStateService;
  let loads = 0;
  let value = 'v1';
  const load = async () => {
    loads += 1;
    return { clusterId: 'c', value };
  };

  beforeEach(() => {
    version = 0;
    loads = 0;
    value = 'v1';
  });

  it('serves a remembered row while the cluster version holds', async () => {
    const cache = new VersionedCache(state, (r: { clusterId: string; value: string }) => r.clusterId);
    await cache.get('k', load);
    const before = loads;
    expect(await cache.get('k', load)).toEqual({ clusterId: 'c', value: 'v1' });
    expect(loads).toBe(before);
  });

  it('reloads once the cluster version moved', async () => {
    const cache = new VersionedCache(state, (r: { clusterId: string; value: string }) => r.clusterId);
    await cache.get('k', load);
    value = 'v2';
    version = 1;
    expect((await cache.get('k', load))?.value).toBe('v2');
  });

  it('forgets a row that no longer exists', async () => {
    const cache = new VersionedCache(state, (r: { clusterId: string; value: string }) => r.clusterId);
    await cache.get('k', load);
    version = 2;
    expect(await cache.get('k', async () => null)).toBeNull();
  });
});
