import { type ApiProcess, dumpDatabase, firstAdminToken, gateway, installMember, json, startApiProcess } from '@gateway/testing';

/**
 * Rotating a cluster's recovery key on a member host: the host seals the cluster key it holds under the new recovery
 * key and signs the envelope; the old key no longer joins, the new one does, and neither key reaches the control plane.
 */
const OLD = 'old-recovery-key-1';
const NEW = 'new-recovery-key-2';
let api: ApiProcess;
let token: string;
let keyed: { config: string; clusterId: string };
let other: { config: string; clusterId: string };

beforeAll(async () => {
  api = await startApiProcess();
  token = await firstAdminToken(api);
  keyed = await installMember(api, token, { name: 'Keyed', member: 'k1', recoveryKey: OLD });
  other = await installMember(api, token, { name: 'Other', member: 'o1', recoveryKey: 'other-recovery-key' });
}, 120_000);

afterAll(async () => api?.stop(), 30_000);

const cli = (...args: string[]) => gateway([...args, '--api', api.url, '--token', token]);

describe('gateway cluster rotate-recovery-key', () => {
  it('replaces the recovery key: the old one no longer joins, the new one does, and neither reaches the control plane', async () => {
    const r = await cli('cluster', 'rotate-recovery-key', 'Keyed', '--new-recovery-key', NEW, '--config', keyed.config);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('The recovery key of cluster "Keyed" was replaced');
    await expect(installMember(api, token, { join: 'Keyed', member: 'k2', recoveryKey: OLD })).rejects.toThrow(/the recovery key is wrong for cluster "Keyed": nothing was registered/);
    const joined = await installMember(api, token, { join: 'Keyed', member: 'k3', recoveryKey: NEW });
    expect(joined.clusterId).toBe(keyed.clusterId);
    // The other cluster is untouched: its own key still joins it.
    expect((await installMember(api, token, { join: 'Other', member: 'o2', recoveryKey: 'other-recovery-key' })).clusterId).toBe(other.clusterId);
    const audit = await json<{ action: string }[]>(`${api.url}/api/clusters/${keyed.clusterId}/audit`, 'GET', undefined, token);
    expect(audit.body.map((e) => e.action)).toContain('cluster.recovery-key.rotate');
    const db = await dumpDatabase(api.databaseUrl);
    for (const secret of [OLD, NEW]) {
      expect(db).not.toContain(secret);
      expect(api.output()).not.toContain(secret);
    }
  }, 120_000);

  it('refuses a config of another cluster, a short key, and an envelope not signed with the cluster key', async () => {
    const wrongHost = await cli('cluster', 'rotate-recovery-key', 'Keyed', '--new-recovery-key', NEW, '--config', other.config);
    expect([wrongHost.status, wrongHost.stderr.trim()]).toEqual([1, 'gateway: this host\'s agent config is for cluster "Other", not "Keyed": run this on a member host of "Keyed", or give its --config']);
    const short = await cli('cluster', 'rotate-recovery-key', 'Keyed', '--new-recovery-key', 'short', '--config', keyed.config);
    expect([short.status, short.stderr.trim()]).toEqual([2, 'gateway: the new recovery key must have at least 8 characters']);
    const envelope = { v: 1, kdf: { alg: 'argon2id', memoryKiB: 19456, iterations: 2, parallelism: 1, salt: 'AAAAAAAAAAAAAAAAAAAAAA==' }, cipher: 'aes-256-gcm', iv: 'AAAAAAAAAAAAAAAA', tag: 'AAAAAAAAAAAAAAAAAAAAAA==', ciphertext: 'AAAA' };
    const forged = await json<{ message: string; field: string }>(`${api.url}/api/clusters/${keyed.clusterId}/recovery-key`, 'POST', { keyEnvelope: envelope, signature: 'AAAA' }, token);
    expect(forged.status).toBe(401);
    expect(forged.body).toMatchObject({ field: 'signature', message: expect.stringMatching(/does not match the cluster key/) });
    // Still the rotated key that joins.
    expect((await installMember(api, token, { join: 'Keyed', member: 'k4', recoveryKey: NEW })).clusterId).toBe(keyed.clusterId);
  }, 120_000);
});
