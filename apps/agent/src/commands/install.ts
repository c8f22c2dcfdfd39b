import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import {
  Installed,
  JoinChallenge,
  MIN_RECOVERY_KEY_LENGTH,
  Name,
  VERSION,
  joinProofMessage,
  type ClusterView,
} from '@gateway/domain';
import {
  generateClusterKeyPair,
  generateMemberKeyPair,
  openPrivateKey,
  sealPrivateKey,
  signMessage,
  WrongRecoveryKeyError,
} from '@gateway/domain/crypto';
import { readFileSync } from 'node:fs';
import { ApiClient, ApiError } from '../api-client';
import { resolveConfigPath, writeAgentConfig } from '../agent-config';
import { CliError } from '../errors';
import { ControlPlaneNetwork, parseControlPlaneUrl } from '../transport';

export interface InstallOptions {
  /** One or more control-plane URLs (instances, a load balancer, a standby). */
  api?: string | string[];
  ca?: string;
  proxy?: string;
  insecureHttp?: boolean;
  token?: string;
  name?: string;
  join?: string;
  recoveryKey?: string;
  memberName?: string;
  config?: string;
  force?: boolean;
  json?: boolean;
}

function required(value: string | undefined, flag: string, env?: string): string {
  if (value === undefined || value === '') {
    throw new CliError(`${flag} is required${env ? ` (or set ${env})` : ''}: see "gateway install --help"`, 2);
  }
  return value;
}

function checkName(value: string, flag: string) {
  const r = Name.safeParse(value);
  if (!r.success) throw new CliError(`${flag} ${r.error.issues[0].message}`, 2);
  return r.data;
}

/** `gateway install`: creates a cluster with this host as primary, or joins one with the recovery key. */
export async function install(opts: InstallOptions, out: (line: string) => void) {
  if (opts.name && opts.join) throw new CliError('give either --name (create a cluster) or --join (join one), not both', 2);
  if (!opts.name && !opts.join) throw new CliError('give --name <cluster> to create a cluster, or --join <cluster id or name> to join one', 2);
  const given = [opts.api ?? []].flat().filter(Boolean);
  if (given.length === 0) required(undefined, '--api', 'GATEWAY_API');
  const apiUrls = [...new Set(given.map((u) => parseControlPlaneUrl(u, { insecureHttp: opts.insecureHttp })))];
  const apiUrl = apiUrls[0];
  let ca: string | undefined;
  if (opts.ca) {
    try {
      ca = readFileSync(opts.ca, 'utf8');
    } catch (e) {
      throw new CliError(`cannot read the --ca file ${opts.ca}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 2);
    }
  }
  const network = new ControlPlaneNetwork({ ca, proxy: opts.proxy });
  const token = required(opts.token ?? process.env.GATEWAY_TOKEN, '--token', 'GATEWAY_TOKEN');
  const recoveryKey = required(opts.recoveryKey ?? process.env.GATEWAY_RECOVERY_KEY, '--recovery-key', 'GATEWAY_RECOVERY_KEY');
  if (recoveryKey.length < MIN_RECOVERY_KEY_LENGTH) {
    throw new CliError(`the recovery key must have at least ${MIN_RECOVERY_KEY_LENGTH} characters`, 2);
  }
  const memberName = checkName(opts.memberName ?? hostname(), '--member-name');
  const clusterName = opts.name === undefined ? undefined : checkName(opts.name, '--name');
  const configPath = resolveConfigPath(opts.config);
  if (existsSync(configPath) && !opts.force) {
    throw new CliError(`this host already has an agent config at ${configPath}: pass --force to replace it (the old member stays registered until removed)`);
  }

  const api = new ApiClient(apiUrl, token, network);
  // Check the token before spending a second on key generation.
  await api.request<ClusterView[]>('GET', '/api/clusters');

  const member = generateMemberKeyPair();
  const registration = { name: memberName, hostName: hostname(), agentVersion: VERSION, publicKey: member.publicKey };
  let installed: Installed;
  let clusterPrivateKey: string;

  if (clusterName !== undefined) {
    const cluster = generateClusterKeyPair();
    const keyEnvelope = await sealPrivateKey(cluster.privateKey, recoveryKey);
    installed = await api.request<Installed>('POST', '/api/clusters', {
      name: clusterName,
      publicKey: cluster.publicKey,
      keyEnvelope,
      member: registration,
    });
    clusterPrivateKey = cluster.privateKey;
  } else {
    const ref = opts.join!;
    let challenge: JoinChallenge;
    try {
      challenge = await api.request<JoinChallenge>('POST', '/api/clusters/join', { cluster: ref });
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) throw new CliError(`no cluster "${ref}" that this token can manage: check --join (a cluster id or name)`);
      throw e;
    }
    try {
      clusterPrivateKey = await openPrivateKey(challenge.keyEnvelope, recoveryKey);
    } catch (e) {
      if (e instanceof WrongRecoveryKeyError) {
        throw new CliError(`the recovery key is wrong for cluster "${challenge.clusterName}": nothing was registered`);
      }
      throw e;
    }
    const signature = signMessage(clusterPrivateKey, joinProofMessage(challenge.clusterId, challenge.nonce));
    installed = await api.request<Installed>('POST', '/api/clusters/join/complete', {
      challengeId: challenge.challengeId,
      signature,
      member: registration,
    });
  }

  writeAgentConfig(configPath, {
    apiUrl,
    ...(apiUrls.length > 1 ? { apiUrls } : {}),
    ...(ca ? { ca } : {}),
    ...(opts.proxy ? { proxy: opts.proxy } : {}),
    ...(opts.insecureHttp ? { insecureHttp: true } : {}),
    clusterId: installed.clusterId,
    clusterName: installed.clusterName,
    memberId: installed.memberId,
    memberName,
    memberPrivateKey: member.privateKey,
    clusterPrivateKey,
  });

  if (opts.json) {
    out(JSON.stringify({ ...installed, memberName, primary: clusterName !== undefined, config: configPath }));
  } else {
    out(clusterName !== undefined
      ? `Created cluster "${installed.clusterName}" with this host as its primary member "${memberName}".`
      : `Joined cluster "${installed.clusterName}" as member "${memberName}".`);
    out(`cluster id: ${installed.clusterId}`);
    out(`member id:  ${installed.memberId}`);
    out(`config:     ${configPath}`);
    out('Keep the recovery key safe: it is needed to add members and is stored nowhere.');
  }
}
