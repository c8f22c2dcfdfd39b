import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type ApiProcess, firstAdminToken, gateway, installMember, startApiProcess, tempDir } from '@gateway/testing';

/**
 * `gateway service install|uninstall`: the systemd unit for `gateway run`, checked by systemd's own verifier
 * (`systemd-analyze verify`, from Debian's systemd package, which .ci/run installs when absent).
 */
let api: ApiProcess;
let config: string;
const isRoot = process.getuid?.() === 0;

beforeAll(async () => {
  api = await startApiProcess();
  const token = await firstAdminToken(api);
  config = (await installMember(api, token, { name: 'Serviced', member: 'svc-a', recoveryKey: 'service-recovery' })).config;
}, 120_000);

afterAll(async () => api?.stop(), 30_000);

describe('gateway service', () => {
  it('prints a unit that systemd-analyze verify accepts, with the user, the config and the hardening asked for', async () => {
    // A dedicated user (systemd rightly calls running as "nobody" unsafe); --print needs it to exist nowhere yet.
    const r = await gateway(['service', 'install', '--config', config, '--user', 'gateway', '--print']);
    expect(r.status).toBe(0);
    const unit = r.stdout;
    expect(unit).toMatch(/^User=gateway$/m);
    expect(unit).toMatch(new RegExp(`^ExecStart=\\S+node \\S+ run --config ${config.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    for (const line of ['Restart=on-failure', 'Environment=MALLOC_ARENA_MAX=2', 'NoNewPrivileges=yes', 'ProtectSystem=strict', `ReadWritePaths=${path.dirname(config)}`, 'KillSignal=SIGTERM', 'WantedBy=multi-user.target']) {
      expect(unit.split('\n')).toContain(line);
    }
    const dir = tempDir('unit-');
    const file = path.join(dir, 'gateway-agent.service');
    writeFileSync(file, unit);
    const verify = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
    // Its complaints about this unit, if any, name the file; those about the host's other units do not matter here.
    const ours = `${verify.stdout}\n${verify.stderr}`.split('\n').filter((l) => l.includes('gateway-agent.service'));
    expect({ status: verify.status, ours }).toEqual({ status: 0, ours: [] });
    // The verifier does catch a broken unit: the test can fail.
    writeFileSync(file, unit.replace('Restart=on-failure', 'Restart=sometimes'));
    const broken = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
    expect(`${broken.stdout}${broken.stderr}`).toMatch(/gateway-agent\.service:\d+: Failed to parse service restart specifier/);
  }, 60_000);

  it('refuses a user that does not exist, a bad unit name, and a missing config, each in one line', async () => {
    const noUser = await gateway(['service', 'install', '--config', config, '--user', 'no-such-user', '--unit-dir', tempDir('unit-')]);
    expect(noUser.status).toBe(1);
    expect(noUser.stderr.trim()).toMatch(/^gateway: there is no user "no-such-user" on this host: create one/);
    const badName = await gateway(['service', 'install', '--config', config, '--name', 'a b', '--print']);
    expect([badName.status, badName.stderr.trim()]).toEqual([2, 'gateway: --name must be a unit name of letters, digits and ":_.@-", not "a b"']);
    const noConfig = await gateway(['service', 'install', '--config', '/nowhere/agent.json', '--print']);
    expect(noConfig.status).toBe(1);
    expect(noConfig.stderr).toMatch(/^gateway: no agent config at \/nowhere\/agent\.json/);
  }, 60_000);

  it('says in one line that systemd is not running when it is not, unless told where to write the unit', async () => {
    const r = await gateway(['service', 'install', '--config', config, '--user', 'nobody']);
    // These machines (and CI's) run no systemd: the unit would go nowhere, and the command says so.
    expect(existsSync('/run/systemd/system')).toBe(false);
    expect(r.status).toBe(1);
    expect(r.stderr.split('\n').filter(Boolean)).toEqual(['gateway: systemd is not running on this host (no /run/systemd/system): print the unit with --print and adapt it to your service manager, or give --unit-dir']);
  }, 60_000);

  (isRoot ? it : it.skip)('[root only: skipped when not root] writes the unit, makes the config readable by the service user only, and removes the unit again', async () => {
    const dir = tempDir('unit-');
    const r = await gateway(['service', 'install', '--config', config, '--user', 'nobody', '--unit-dir', dir]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('systemctl daemon-reload && systemctl enable --now gateway-agent');
    const file = path.join(dir, 'gateway-agent.service');
    expect(readFileSync(file, 'utf8')).toMatch(/^User=nobody$/m);
    const nobody = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }));
    expect(statSync(config).uid).toBe(nobody);
    expect(statSync(config).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(config)).mode & 0o777).toBe(0o700);
    const u = await gateway(['service', 'uninstall', '--unit-dir', dir]);
    expect(u.status).toBe(0);
    expect(existsSync(file)).toBe(false);
    const again = await gateway(['service', 'uninstall', '--unit-dir', dir]);
    expect([again.status, again.stderr.trim()]).toEqual([1, `gateway: no unit ${file}: nothing to remove`]);
  }, 60_000);
});
