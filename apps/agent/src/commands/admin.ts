import type { Command } from 'commander';
import { MIN_RECOVERY_KEY_LENGTH, rotateKeyMessage, rotateRecoveryKeyMessage, type AuditEventView, type KeyRotationContext, type ClusterView, type DataSourceView, type MemberStatusView, type RefreshView, type RoleView, type TokenResponse } from '@gateway/domain';
import { generateClusterKeyPair, openFromCluster, openPrivateKey, publicKeyOf, rotateKeyDigest, sealForCluster, sealPrivateKey, signMessage, type SealedBox } from '@gateway/domain/crypto';
import { readAgentConfig, resolveConfigPath } from '../agent-config';
import { ApiClient, ApiError, parseApiUrl } from '../api-client';
import { forgetCredentials, loadCredentials, resolveAccess, saveCredentials } from '../credentials';
import { CliError } from '../errors';
import { parseNumberOption } from './options';
import { table } from '../table';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface Common {
  api?: string;
  token?: string;
  json?: boolean;
}

type Out = (line: string) => void;

const client = (opts: Common) => {
  const { apiUrl, token } = resolveAccess(opts);
  return new ApiClient(apiUrl, token);
};
const enc = encodeURIComponent;

function print(out: Out, opts: Common, value: unknown, render: () => string) {
  out(opts.json ? JSON.stringify(value, null, 2) : render());
}

function parseBool(v: string, flag: string): boolean {
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new CliError(`${flag} must be true or false, not "${v}"`, 2);
}

function parsePercent(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 100) throw new CliError(`${flag} must be a whole number from 0 (off) to 100, not "${v}"`, 2);
  return n;
}

/** Finds a member by id, by "<cluster>/<member name>", or by a name unique among the clusters you administer. */
async function resolveMember(api: ApiClient, ref: string): Promise<MemberStatusView> {
  if (UUID.test(ref)) {
    const clusters = await api.request<ClusterView[]>('GET', '/api/clusters');
    for (const c of clusters.filter((c) => c.role === 'admin')) {
      const m = (await api.request<MemberStatusView[]>('GET', `/api/clusters/${c.id}/members`)).find((x) => x.id === ref);
      if (m) return m;
    }
    throw new CliError(`no member ${ref} in a cluster you administer`);
  }
  const slash = ref.lastIndexOf('/');
  const [clusterRef, name] = slash > 0 ? [ref.slice(0, slash), ref.slice(slash + 1)] : [null, ref];
  const clusters = clusterRef ? [{ id: clusterRef, name: clusterRef }] : (await api.request<ClusterView[]>('GET', '/api/clusters')).filter((c) => c.role === 'admin');
  const found: MemberStatusView[] = [];
  for (const c of clusters) {
    const members = await api.request<MemberStatusView[]>('GET', `/api/clusters/${enc(c.id)}/members`);
    found.push(...members.filter((m) => m.name === name));
  }
  if (found.length === 0) throw new CliError(`no member named "${name}"${clusterRef ? ` in cluster "${clusterRef}"` : ' in the clusters you administer'}`);
  if (found.length > 1) throw new CliError(`several clusters have a member named "${name}": write it as <cluster>/${name} or use its id`);
  return found[0];
}

/** The cluster `ref` and this host's agent config, which must be a member's of it (it holds the cluster key). */
async function onMemberHost(opts: Common & { config?: string }, ref: string) {
  const config = readAgentConfig(resolveConfigPath(opts.config));
  const api = client(opts);
  const c = await api.request<ClusterView>('GET', `/api/clusters/${enc(ref)}`);
  if (c.id !== config.clusterId) throw new CliError(`this host's agent config is for cluster "${config.clusterName}", not "${c.name}": run this on a member host of "${c.name}", or give its --config`);
  return { config, api, c };
}

/** A member's status now, from its cluster's list (one request, whatever the number of clusters). */
async function memberNow(api: ApiClient, m: { id: string; name: string; clusterId: string }): Promise<MemberStatusView> {
  const now = (await api.request<MemberStatusView[]>('GET', `/api/clusters/${m.clusterId}/members`)).find((x) => x.id === m.id);
  if (!now) throw new CliError(`member ${m.name} was removed meanwhile`);
  return now;
}

/** Asks `check` every 250 ms until it gives a value; past `timeoutS` stops with the message `late` gives. */
async function pollUntil<T>(timeoutS: number, check: () => Promise<T | null>, late: () => string): Promise<T> {
  const deadline = Date.now() + timeoutS * 1000;
  for (;;) {
    const v = await check();
    if (v !== null) return v;
    if (Date.now() > deadline) throw new CliError(late());
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The agent version, flagged when it is outside the newest two release lines (or ahead of the control plane). */
const versionOf = (m: MemberStatusView) => `${m.version ?? m.agentVersion}${m.versionStanding === 'outdated' ? ' (outdated: upgrade)' : m.versionStanding === 'newer' ? ' (newer than the control plane)' : ''}`;

/** online, draining (no new work, finishing), drained (no new work, idle: ready to stop), offline or unknown. */
const statusOf = (m: MemberStatusView) => {
  if (m.online && m.drained) return 'drained';
  if (m.draining) return 'draining';
  if (m.online) return 'online';
  return m.presenceKnown === false ? 'unknown' : m.drained ? 'offline-drained' : 'offline';
};
const ago = (iso: string | null) => (iso ? `${Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 100) / 10)} s ago` : null);

/** The admin commands (the reference product's PowerShell scripts). */
export function registerAdminCommands(program: Command, out: Out) {
  const common = (c: Command) =>
    c.option('--api <url>', 'the control plane URL (default: from "gateway login", or GATEWAY_API)').option('--token <token>', 'an access token (default: from "gateway login", or GATEWAY_TOKEN)').option('--json', 'print JSON');

  program
    .command('login')
    .description('Sign in and remember the API address and token for the admin commands (~/.gateway/credentials.json, mode 0600).')
    .requiredOption('--api <url>', 'the control plane URL')
    .requiredOption('--email <email>', 'your account email')
    .option('--password <password>', 'your password (or GATEWAY_PASSWORD)')
    .option('--json', 'print JSON')
    .action(async (opts: { api: string; email: string; password?: string; json?: boolean }) => {
      const password = opts.password ?? process.env.GATEWAY_PASSWORD;
      if (!password) throw new CliError('--password is required (or set GATEWAY_PASSWORD)', 2);
      const apiUrl = parseApiUrl(opts.api);
      const r = await new ApiClient(apiUrl).request<TokenResponse>('POST', '/api/auth/login', { email: opts.email, password });
      saveCredentials({ apiUrl, token: r.token, email: r.user.email });
      print(out, opts, { email: r.user.email, apiUrl, expiresAt: r.expiresAt }, () => `Signed in to ${apiUrl} as ${r.user.email} (until ${r.expiresAt}).`);
    });

  program
    .command('logout')
    .description('Revoke the remembered token and forget it.')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const stored = loadCredentials();
      if (!stored) throw new CliError('not signed in');
      try {
        await new ApiClient(stored.apiUrl, stored.token).request('POST', '/api/auth/logout');
      } catch (e) {
        // An expired or revoked token is as good as logged out; anything else is worth reporting.
        if (!(e instanceof ApiError && e.status === 401)) throw e;
      }
      forgetCredentials();
      print(out, opts, { ok: true }, () => `Signed out of ${stored.apiUrl}.`);
    });

  common(program.command('clusters').description('List the clusters you can see, with their members online and routing mode.')).action(async (opts: Common) => {
    const clusters = await client(opts).request<ClusterView[]>('GET', '/api/clusters');
    print(out, opts, clusters, () =>
      table(['NAME', 'ID', 'ROLE', 'ONLINE', 'ROUTING', 'DESCRIPTION'], clusters.map((c) => [c.name, c.id, c.role, `${c.onlineCount}/${c.memberCount}${c.presenceKnown === false ? ' (presence unknown)' : ''}`, c.routing.mode, c.description])),
    );
  });

  common(program.command('members <cluster>').description('List the members of a cluster (by id or name) with their online status.')).action(async (cluster: string, opts: Common) => {
    const members = await client(opts).request<MemberStatusView[]>('GET', `/api/clusters/${enc(cluster)}/members`);
    // Per data source, what each member found when it last checked that it can reach it (routing skips the ones that cannot).
    const reach = (m: MemberStatusView) => (m.sources?.length ? `${m.sources.filter((s) => s.ok).length}/${m.sources.length} reachable` : '-');
    const cut = members.flatMap((m) => (m.sources ?? []).filter((s) => !s.ok).map((s) => `${m.name} cannot reach data source "${s.name}": ${s.error ?? 'unreachable'} (checked ${ago(s.checkedAt)})`));
    print(out, opts, members, () =>
      [
        table(
          ['NAME', 'ID', 'STATUS', 'ENABLED', 'PRIMARY', 'VERSION', 'HOST', 'HEARTBEAT', 'CPU%', 'MEM%', 'SOURCES'],
          members.map((m) => [m.name, m.id, statusOf(m), m.enabled, m.primary, versionOf(m), m.hostName, ago(m.lastHeartbeat), m.cpu, m.memory, reach(m)]),
        ),
        ...cut,
      ].join('\n'),
    );
  });

  const member = program.command('member').description('Change, promote or remove a member (by id, <cluster>/<name>, or a unique name).');
  common(member.command('set <member>').description('Enable or disable a member, rename it or describe it.'))
    .option('--enabled <bool>', 'true or false')
    .option('--name <name>', 'a new name')
    .option('--description <text>', 'a description')
    .action(async (ref: string, opts: Common & { enabled?: string; name?: string; description?: string }) => {
      const body: Record<string, unknown> = {};
      if (opts.enabled !== undefined) body.enabled = parseBool(opts.enabled, '--enabled');
      if (opts.name !== undefined) body.name = opts.name;
      if (opts.description !== undefined) body.description = opts.description;
      if (Object.keys(body).length === 0) throw new CliError('nothing to change: give --enabled, --name or --description', 2);
      const api = client(opts);
      const m = await resolveMember(api, ref);
      const updated = await api.request<MemberStatusView>('PATCH', `/api/members/${m.id}`, body);
      print(out, opts, updated, () => `Member "${updated.name}" (${updated.id}): enabled ${updated.enabled}, primary ${updated.primary}.`);
    });
  common(member.command('promote <member>').description('Make a member the primary of its cluster.')).action(async (ref: string, opts: Common) => {
    const api = client(opts);
    const m = await resolveMember(api, ref);
    const updated = await api.request<MemberStatusView>('POST', `/api/members/${m.id}/promote`);
    print(out, opts, updated, () => `Member "${updated.name}" is now the primary of its cluster.`);
  });
  common(member.command('drain <member>').description('Drain a member before stopping or upgrading it: it takes no new work and finishes what it runs; peers serve meanwhile.'))
    .option('--wait', 'wait until it runs nothing any more (drained)')
    .option('--timeout <s>', 'with --wait, give up after this many seconds (default 600)', '600')
    .action(async (ref: string, opts: Common & { wait?: boolean; timeout: string }) => {
      const timeoutS = parseNumberOption(opts.timeout, '--timeout', 1, 86_400, true)!;
      const api = client(opts);
      const m = await resolveMember(api, ref);
      await api.request('POST', `/api/members/${m.id}/drain`);
      if (!opts.wait) {
        const now = await memberNow(api, m);
        return print(out, opts, now, () => `Member "${m.name}" is draining: it takes no new work. ${now.drained ? 'It runs nothing: it is drained.' : 'It is finishing what it runs; "gateway members" shows it as drained when done.'}`);
      }
      let last: MemberStatusView | null = null;
      const drained = await pollUntil(
        timeoutS,
        async () => ((last = await memberNow(api, m)).drained ? last : null),
        () => `member "${m.name}" still runs work after ${timeoutS} s (${last?.activeJobs ?? '?'} active): it takes no new work; wait longer or stop it anyway (SIGTERM drains for up to 10 s)`,
      );
      print(out, opts, drained, () => `Member "${m.name}" is drained: it runs nothing and takes no new work. Stop, upgrade and start it, then: gateway member resume ${ref}`);
    });
  common(member.command('resume <member>').description('Resume a drained member: it takes work again.')).action(async (ref: string, opts: Common) => {
    const api = client(opts);
    const m = await resolveMember(api, ref);
    const updated = await api.request<MemberStatusView>('POST', `/api/members/${m.id}/resume`);
    print(out, opts, updated, () => `Member "${updated.name}" takes work again.`);
  });
  common(member.command('remove <member>').description('Remove a member from its cluster (not the primary: promote another first).')).action(async (ref: string, opts: Common) => {
    const api = client(opts);
    const m = await resolveMember(api, ref);
    await api.request('DELETE', `/api/members/${m.id}`);
    print(out, opts, { removed: m.id, name: m.name }, () => `Removed member "${m.name}" (${m.id}).`);
  });

  const cluster = program.command('cluster').description('Change or remove a cluster.');
  common(cluster.command('set <cluster>').description('Change a cluster\'s routing, thresholds, name, description or contact.'))
    .option('--routing <mode>', 'primary or distribute')
    .option('--cpu-threshold <percent>', 'skip a member above this CPU % while another can serve (0 = off)')
    .option('--memory-threshold <percent>', 'skip a member above this memory % while another can serve (0 = off)')
    .option('--name <name>', 'a new name')
    .option('--description <text>', 'a description')
    .option('--contact <text>', 'a contact')
    .action(async (ref: string, opts: Common & { routing?: string; cpuThreshold?: string; memoryThreshold?: string; name?: string; description?: string; contact?: string }) => {
      const routing: Record<string, unknown> = {};
      if (opts.routing !== undefined) {
        if (opts.routing !== 'primary' && opts.routing !== 'distribute') throw new CliError(`--routing must be primary or distribute, not "${opts.routing}"`, 2);
        routing.mode = opts.routing;
      }
      if (opts.cpuThreshold !== undefined) routing.cpuThreshold = parsePercent(opts.cpuThreshold, '--cpu-threshold');
      if (opts.memoryThreshold !== undefined) routing.memoryThreshold = parsePercent(opts.memoryThreshold, '--memory-threshold');
      const body: Record<string, unknown> = {};
      if (Object.keys(routing).length) body.routing = routing;
      for (const k of ['name', 'description', 'contact'] as const) if (opts[k] !== undefined) body[k] = opts[k];
      if (Object.keys(body).length === 0) throw new CliError('nothing to change: give --routing, --cpu-threshold, --memory-threshold, --name, --description or --contact', 2);
      const c = await client(opts).request<ClusterView>('PATCH', `/api/clusters/${enc(ref)}`, body);
      print(out, opts, c, () => `Cluster "${c.name}": routing ${c.routing.mode}, CPU threshold ${c.routing.cpuThreshold}, memory threshold ${c.routing.memoryThreshold}.`);
    });
  common(cluster.command('upgrade-plan <cluster>').description('The order to upgrade a cluster\'s members so that one always serves; with --wait, walk through it.'))
    .option('--to <version>', 'the agent version to upgrade to (default: the control plane\'s)')
    .option('--wait', 'drain each member in turn, wait until it comes back (on --to, when given), resume it; promote another before the primary')
    .option('--timeout <s>', 'with --wait, how long each member may take to drain and to come back (default 900)', '900')
    .action(async (ref: string, opts: Common & { to?: string; wait?: boolean; timeout: string }) => {
      const timeoutS = parseNumberOption(opts.timeout, '--timeout', 1, 86_400, true)!;
      const api = client(opts);
      const c = await api.request<ClusterView>('GET', `/api/clusters/${enc(ref)}`);
      const health = await api.request<{ version: string }>('GET', '/api/health').catch(() => ({ version: '?' }));
      const target = opts.to ?? health.version;
      const members = await api.request<MemberStatusView[]>('GET', `/api/clusters/${c.id}/members`);
      const primary = members.find((m) => m.primary);
      const secondaries = members.filter((m) => !m.primary);
      if (!primary || secondaries.length === 0) {
        throw new CliError(`cluster "${c.name}" has ${members.length} member(s): with one, an upgrade pauses its work. Join another host first (gateway install --join ${c.name}), then upgrade one at a time`);
      }
      // Secondaries first (in join order), then the primary once the first secondary took over.
      const order = [...secondaries.map((m) => ({ m, promoteFirst: false })), { m: primary, promoteFirst: true }];
      const next = secondaries[0];
      const steps = order.map(({ m, promoteFirst }, i) =>
        [
          `${i + 1}. ${m.name} (${m.primary ? 'primary' : 'secondary'}, now ${m.version ?? m.agentVersion})`,
          ...(promoteFirst ? [`   gateway member promote ${c.name}/${next.name}     # ${next.name} serves while ${m.name} is upgraded`] : []),
          `   gateway member drain ${c.name}/${m.name} --wait`,
          `   stop it, install gateway-agent@${target} on its host, start it again`,
          `   gateway member resume ${c.name}/${m.name}`,
        ].join('\n'),
      );
      const header = `Upgrade of cluster "${c.name}" to ${target}: one member at a time, so that another always serves.`;
      const footer = `Afterwards ${next.name} is the primary: "gateway member promote ${c.name}/${primary.name}" gives the role back.`;
      if (!opts.wait) return print(out, opts, { cluster: c.name, to: target, order: order.map(({ m, promoteFirst }) => ({ member: m.name, id: m.id, promoteFirst: promoteFirst ? next.name : null })) }, () => [header, ...steps, footer].join('\n'));
      out(header);
      const stopped = (what: string) => () => `gave up after ${timeoutS} s waiting for ${what}: the plan stopped here; rerun it when that is done`;
      for (const [i, { m, promoteFirst }] of order.entries()) {
        if (promoteFirst) {
          await api.request('POST', `/api/members/${next.id}/promote`);
          out(`Promoted ${next.name} to primary: it serves while ${m.name} is upgraded.`);
        }
        await api.request('POST', `/api/members/${m.id}/drain`);
        out(`${i + 1}/${order.length} Draining ${m.name}...`);
        await pollUntil(timeoutS, async () => ((await memberNow(api, m)).drained ? true : null), stopped(`${m.name} to drain`));
        out(`Stop ${m.name} now, install gateway-agent@${target} on its host and start it again. Waiting for it to come back${opts.to ? ` on ${target}` : ''}...`);
        let wentAway = false;
        const back = await pollUntil(
          timeoutS,
          async () => {
            const now = await memberNow(api, m);
            if (!now.online) wentAway = true;
            const onTarget = !opts.to || now.version === target;
            return now.online && wentAway && onTarget ? now : null;
          },
          stopped(`${m.name} to come back`),
        );
        await api.request('POST', `/api/members/${m.id}/resume`);
        out(`${m.name} is back on ${back.version ?? '?'} and takes work again.`);
      }
      out(`Done: every member of "${c.name}" was upgraded. ${footer}`);
    });
  common(cluster.command('rotate-recovery-key <cluster>').description('Seal the cluster key under a new recovery key, on a member host of the cluster; the old key no longer joins. Members are unaffected.'))
    .option('--new-recovery-key <key>', `the new recovery key, at least ${MIN_RECOVERY_KEY_LENGTH} characters (or GATEWAY_NEW_RECOVERY_KEY); it never leaves this host`)
    .option('--config <file>', 'this host\'s agent config, which holds the cluster key (default: ~/.gateway/agent.json)')
    .action(async (ref: string, opts: Common & { newRecoveryKey?: string; config?: string }) => {
      const key = opts.newRecoveryKey ?? process.env.GATEWAY_NEW_RECOVERY_KEY;
      if (!key) throw new CliError('give the new recovery key with --new-recovery-key or GATEWAY_NEW_RECOVERY_KEY', 2);
      if (key.length < MIN_RECOVERY_KEY_LENGTH) throw new CliError(`the new recovery key must have at least ${MIN_RECOVERY_KEY_LENGTH} characters`, 2);
      const { config, api, c } = await onMemberHost(opts, ref);
      // Sealed here, with the key this host holds: the control plane stores the envelope and never sees either key.
      const keyEnvelope = await sealPrivateKey(config.clusterPrivateKey, key);
      const signature = signMessage(config.clusterPrivateKey, rotateRecoveryKeyMessage(c.id, keyEnvelope));
      await api.request('POST', `/api/clusters/${c.id}/recovery-key`, { keyEnvelope, signature });
      print(out, opts, { cluster: c.name, rotated: true }, () => `The recovery key of cluster "${c.name}" was replaced: new members join with the new key only. Keep it safe: it is stored nowhere.`);
    });
  common(cluster.command('rotate-key <cluster>').description('Replace the cluster key pair, on a member host: every data source credential is sealed again to the new key here, and every member gets the new private key sealed to its own key. No reinstall.'))
    .option('--recovery-key <key>', 'the cluster recovery key (or GATEWAY_RECOVERY_KEY): the new private key is sealed under it')
    .option('--config <file>', 'this host\'s agent config, which holds the current cluster key (default: ~/.gateway/agent.json)')
    .action(async (ref: string, opts: Common & { recoveryKey?: string; config?: string }) => {
      const recoveryKey = opts.recoveryKey ?? process.env.GATEWAY_RECOVERY_KEY;
      if (!recoveryKey) throw new CliError('give the recovery key with --recovery-key or GATEWAY_RECOVERY_KEY', 2);
      const { config, api, c } = await onMemberHost(opts, ref);
      const ctx = await api.request<KeyRotationContext>('GET', `/api/clusters/${c.id}/key-rotation`);
      const old = config.clusterPrivateKey;
      if (publicKeyOf(old).trim() !== ctx.publicKey.trim()) throw new CliError(`this host's cluster key is not the current one of "${c.name}" (it was rotated since): run this on a member host that is up to date`);
      try {
        await openPrivateKey(ctx.keyEnvelope, recoveryKey);
      } catch {
        throw new CliError(`the recovery key is wrong for cluster "${c.name}": nothing was changed`);
      }
      const keyless = ctx.members.filter((m) => !m.boxKey).map((m) => m.name);
      if (keyless.length) throw new CliError(`member(s) ${keyless.join(', ')} of "${c.name}" have no key to receive the new cluster key: start each once with this agent version (it registers one when it connects), then run this again`);
      const next = generateClusterKeyPair();
      const credentials = ctx.dataSources.map((d) => {
        if (d.credentials === null) return { dataSourceId: d.id, version: d.version, credentials: null };
        let plain: string;
        try {
          plain = openFromCluster(old, d.credentials as SealedBox);
        } catch {
          throw new CliError(`the credentials of data source "${d.name}" cannot be opened with this host's cluster key: nothing was changed`);
        }
        return { dataSourceId: d.id, version: d.version, credentials: sealForCluster(next.publicKey, plain) };
      });
      const memberKeys = ctx.members.map((m) => ({ memberId: m.id, box: sealForCluster(m.boxKey!, next.privateKey) }));
      const body = { generation: ctx.generation, publicKey: next.publicKey, keyEnvelope: await sealPrivateKey(next.privateKey, recoveryKey), credentials, memberKeys };
      const signature = signMessage(old, rotateKeyMessage(c.id, ctx.generation, rotateKeyDigest(body)));
      const done = await api.request<{ generation: number }>('POST', `/api/clusters/${c.id}/key-rotation`, { ...body, signature });
      print(out, opts, { cluster: c.name, generation: done.generation, dataSources: credentials.length, members: memberKeys.length }, () =>
        `Rotated the key of cluster "${c.name}" (generation ${done.generation}): ${credentials.length} data source credential(s) sealed again to it; its ${memberKeys.length} member(s) get it now, or when they next connect. The recovery key is unchanged.`,
      );
    });
  common(cluster.command('remove <cluster>').description('Delete a cluster with its members and data sources.'))
    .option('--yes', 'confirm: the cluster, its members, data sources and queued work are deleted')
    .action(async (ref: string, opts: Common & { yes?: boolean }) => {
      if (!opts.yes) throw new CliError(`this deletes cluster "${ref}" with its members and data sources: add --yes to confirm`, 2);
      const api = client(opts);
      const c = await api.request<ClusterView>('GET', `/api/clusters/${enc(ref)}`);
      await api.request('DELETE', `/api/clusters/${c.id}`);
      print(out, opts, { removed: c.id, name: c.name }, () => `Deleted cluster "${c.name}" (${c.id}).`);
    });

  const admins = program.command('admins').description('List, grant or revoke the administrators of a cluster.');
  common(admins.command('list <cluster>').description('Who has which role on the cluster.')).action(async (ref: string, opts: Common) => {
    const roles = await client(opts).request<RoleView[]>('GET', `/api/clusters/${enc(ref)}/roles`);
    print(out, opts, roles, () => table(['EMAIL', 'ROLE', 'SINCE'], roles.map((r) => [r.email, r.role, r.grantedAt])));
  });
  common(admins.command('add <cluster> <email>').description('Grant a user the Admin role (or --role user).'))
    .option('--role <role>', 'admin (default) or user', 'admin')
    .action(async (ref: string, email: string, opts: Common & { role: string }) => {
      if (opts.role !== 'admin' && opts.role !== 'user') throw new CliError(`--role must be admin or user, not "${opts.role}"`, 2);
      const r = await client(opts).request<RoleView>('PUT', `/api/clusters/${enc(ref)}/roles`, { email, role: opts.role });
      print(out, opts, r, () => `${r.email} is now ${r.role === 'admin' ? 'an Admin' : 'a User'} of cluster "${ref}".`);
    });
  common(admins.command('remove <cluster> <email>').description('Revoke a user\'s role on the cluster (never the last admin).')).action(async (ref: string, email: string, opts: Common) => {
    await client(opts).request('DELETE', `/api/clusters/${enc(ref)}/roles/${enc(email)}`);
    print(out, opts, { revoked: email }, () => `${email} has no role on cluster "${ref}" any more.`);
  });

  common(program.command('datasources <cluster>').description('List the data sources of a cluster (never their credentials).')).action(async (ref: string, opts: Common) => {
    const list = await client(opts).request<DataSourceView[]>('GET', `/api/clusters/${enc(ref)}/datasources`);
    const where = (d: DataSourceView) => (d.type === 'sqlite' ? String(d.connection.path) : `${d.connection.host}:${d.connection.port}/${d.connection.database}`);
    print(out, opts, list, () => table(['NAME', 'ID', 'TYPE', 'WHERE', 'CREDENTIALS'], list.map((d) => [d.name, d.id, d.type, where(d), d.hasCredentials ? 'sealed' : 'none'])));
  });

  common(program.command('audit <cluster>').description('The audit log of a cluster, newest first.'))
    .option('--limit <n>', 'how many events (1-1000)', '50')
    .action(async (ref: string, opts: Common & { limit: string }) => {
      const limit = parseNumberOption(opts.limit, '--limit', 1, 1000, true);
      const events = await client(opts).request<AuditEventView[]>('GET', `/api/clusters/${enc(ref)}/audit?limit=${limit}`);
      print(out, opts, events, () => table(['WHEN', 'WHO', 'ACTION', 'TARGET', 'DETAIL'], events.map((e) => [e.at, e.actor, e.action, `${e.targetType}:${e.targetId ?? '-'}`, e.detail ? JSON.stringify(e.detail) : null])));
    });
}

/** `gateway refresh <dataset> [--wait]`: refresh now, optionally following it to the end with a live progress line. */
export function registerRefreshCommand(program: Command, out: Out) {
  program
    .command('refresh <dataset>')
    .description('Refresh a dataset now (by id, or <cluster>/<dataset name>); --wait follows it to the end.')
    .option('--wait', 'wait for the refresh to end, showing its progress; exit 1 if it fails')
    .option('--api <url>', 'the control plane URL (default: from "gateway login", or GATEWAY_API)')
    .option('--token <token>', 'an access token (default: from "gateway login", or GATEWAY_TOKEN)')
    .option('--json', 'print JSON')
    .action(async (ref: string, opts: Common & { wait?: boolean }) => {
      const api = client(opts);
      let id = ref;
      if (!UUID.test(ref)) {
        const slash = ref.lastIndexOf('/');
        if (slash <= 0) throw new CliError(`name the dataset by id or as <cluster>/<dataset name>, not "${ref}"`, 2);
        const [cluster, name] = [ref.slice(0, slash), ref.slice(slash + 1)];
        const found = (await api.request<{ id: string; name: string }[]>('GET', `/api/datasets?cluster=${enc(cluster)}`)).find((d) => d.name === name);
        if (!found) throw new CliError(`no dataset named "${name}" in cluster "${cluster}"`);
        id = found.id;
      }
      let r = await api.request<RefreshView>('POST', `/api/datasets/${id}/refreshes`);
      if (!opts.wait) {
        print(out, opts, r, () => `Refresh ${r.id} queued.`);
        return;
      }
      const tty = process.stderr.isTTY;
      while (r.status === 'queued' || r.status === 'running') {
        await new Promise((res) => setTimeout(res, 500));
        r = await api.request<RefreshView>('GET', `/api/refreshes/${r.id}`);
        const who = r.attempts.at(-1)?.memberName;
        const line = `${r.status}: ${r.rows.toLocaleString('en-US')} rows, ${r.bytes.toLocaleString('en-US')} bytes${who ? ` on ${who}` : ''}`;
        if (!opts.json) process.stderr.write(tty ? `\r${line}\u001b[K` : `${line}\n`);
      }
      if (tty && !opts.json) process.stderr.write('\n');
      print(out, opts, r, () => `Refresh ${r.id} ${r.status}: ${r.rows} rows in ${r.durationMs ?? 0} ms${r.attempts.length ? ` (last attempt on ${r.attempts.at(-1)!.memberName})` : ''}.`);
      if (r.status !== 'succeeded') throw new CliError(`refresh ${r.id} ${r.status}: ${r.error ?? 'no reason given'}`);
    });
}
