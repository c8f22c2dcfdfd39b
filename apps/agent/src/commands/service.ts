import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { readAgentConfig, resolveConfigPath } from '../agent-config';
import { CliError } from '../errors';

export interface ServiceOptions {
  config?: string;
  user?: string;
  name?: string;
  print?: boolean;
  unitDir?: string;
}

const UNIT_NAME = /^[A-Za-z0-9:_.@-]{1,200}$/;
const USER_NAME = /^[a-z_][a-z0-9_-]{0,31}\$?$/;

/** The unit's value of a path or argument: systemd splits ExecStart on spaces unless quoted. */
const quote = (s: string) => (/^[A-Za-z0-9/._:@+=-]+$/.test(s) ? s : `"${s.replace(/(["\\])/g, '\\$1')}"`);

/**
 * The systemd unit that runs `gateway run --config <file>` as `user`: restarted on failure, MALLOC_ARENA_MAX=2
 * (see the README's production notes), stopped with SIGTERM (the agent drains, bounded) and hardened: no new
 * privileges, the whole file system read-only but the config's folder, private /tmp and devices, no capabilities.
 */
export function systemdUnit(o: { node: string; script: string; config: string; user: string; member?: string; cluster?: string }): string {
  const what = o.member && o.cluster ? ` (member ${o.member} of cluster ${o.cluster})` : '';
  return `[Unit]
Description=On-premises data gateway agent${what}
Documentation=https://github.com/gateway/gateway#readme
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
User=${o.user}
ExecStart=${[o.node, o.script, 'run', '--config', o.config].map(quote).join(' ')}
Environment=MALLOC_ARENA_MAX=2
Environment=NODE_ENV=production
Restart=on-failure
RestartSec=5s
# SIGTERM: the member says it is draining, finishes its work (up to 10 s), then disconnects.
KillSignal=SIGTERM
TimeoutStopSec=30s
UMask=0077
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=read-only
ReadWritePaths=${quote(dirname(o.config))}
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
LockPersonality=yes
CapabilityBoundingSet=
AmbientCapabilities=
SystemCallArchitectures=native

[Install]
WantedBy=multi-user.target
`;
}

function idOf(user: string, flag: '-u' | '-g'): number {
  try {
    return Number(execFileSync('id', [flag, user], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
  } catch {
    throw new CliError(`there is no user "${user}" on this host: create one for the agent (for example: useradd --system --home-dir /var/lib/gateway gateway) or give --user`);
  }
}

const systemdRuns = () => existsSync('/run/systemd/system');

function unitPath(o: ServiceOptions) {
  const name = o.name ?? 'gateway-agent';
  if (!UNIT_NAME.test(name)) throw new CliError(`--name must be a unit name of letters, digits and ":_.@-", not "${name}"`, 2);
  return { name, file: join(o.unitDir ?? '/etc/systemd/system', `${name}.service`) };
}

export function serviceInstall(o: ServiceOptions, out: (line: string) => void) {
  const config = resolveConfigPath(o.config);
  const user = o.user ?? 'gateway';
  if (!USER_NAME.test(user)) throw new CliError(`--user must be a user name, not "${user}"`, 2);
  const agent = readAgentConfig(config);
  const { name, file } = unitPath(o);
  const unit = systemdUnit({ node: process.execPath, script: realpathSync(process.argv[1]), config, user, member: agent.memberName, cluster: agent.clusterName });
  if (o.print) return out(unit.trimEnd());
  if (!o.unitDir && !systemdRuns()) throw new CliError('systemd is not running on this host (no /run/systemd/system): print the unit with --print and adapt it to your service manager, or give --unit-dir');
  // The config holds the member's private key and the cluster key: readable by the service's user only.
  const uid = idOf(user, '-u');
  const gid = idOf(user, '-g');
  chownSync(config, uid, gid);
  chmodSync(config, 0o600);
  chownSync(dirname(config), uid, gid);
  chmodSync(dirname(config), 0o700);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, unit, { mode: 0o644 });
  out(`Wrote ${file} (runs "gateway run --config ${config}" as ${user}). Enable and start it with:\n  systemctl daemon-reload && systemctl enable --now ${name}\nFollow it with: journalctl -u ${name} -f`);
}

export function serviceUninstall(o: ServiceOptions, out: (line: string) => void) {
  const { name, file } = unitPath(o);
  if (!existsSync(file)) throw new CliError(`no unit ${file}: nothing to remove`);
  rmSync(file);
  out(`Removed ${file}. If it was running: systemctl disable --now ${name} && systemctl daemon-reload`);
}

export function registerServiceCommands(program: Command, out: (line: string) => void) {
  const service = program.command('service').description('Run this host\'s agent as a systemd service.');
  service
    .command('install')
    .description('Write a systemd unit that runs "gateway run" as a dedicated user, restarted on failure and hardened, and say how to enable it.')
    .option('--config <file>', 'the agent config (default: ~/.gateway/agent.json); it becomes readable by --user only')
    .option('--user <name>', 'the user the service runs as (default: gateway)')
    .option('--name <unit>', 'the unit name (default: gateway-agent)')
    .option('--unit-dir <dir>', 'where to write the unit (default: /etc/systemd/system)')
    .option('--print', 'print the unit instead of writing it')
    .action(async (opts: ServiceOptions) => serviceInstall(opts, out));
  service
    .command('uninstall')
    .description('Remove the unit written by "gateway service install".')
    .option('--name <unit>', 'the unit name (default: gateway-agent)')
    .option('--unit-dir <dir>', 'where the unit is (default: /etc/systemd/system)')
    .action(async (opts: ServiceOptions) => serviceUninstall(opts, out));
}
