import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { CliError } from './errors';

/**
 * The agent's identity on this host. It holds private keys (the member's own, and the cluster's, which
 * members need to open data source credentials), so it is written with mode 0600 in a 0700 folder.
 */
export const AgentConfig = z.object({
  /** The control plane's first URL; `apiUrls` lists every instance (or load balancer, or standby) to connect to. */
  apiUrl: z.string(),
  apiUrls: z.array(z.string()).min(1).optional(),
  /** A private CA to trust for the control plane's certificate (PEM, kept here so the file given to install can go). */
  ca: z.string().optional(),
  /** The proxy for every connection to the control plane (overrides HTTPS_PROXY/HTTP_PROXY); may hold basic-auth credentials. */
  proxy: z.string().optional(),
  /** Plain http:// to a non-loopback control plane was allowed at install (--insecure-http). */
  insecureHttp: z.boolean().optional(),
  clusterId: z.string(),
  clusterName: z.string(),
  memberId: z.string(),
  memberName: z.string(),
  memberPrivateKey: z.string(),
  clusterPrivateKey: z.string(),
  /** This member's box key (RSA, PKCS#8 PEM): a rotated cluster key reaches it sealed to its public half. */
  memberBoxPrivateKey: z.string().optional(),
});
export type AgentConfig = z.infer<typeof AgentConfig>;

/** Every control-plane URL of a config, in order. */
export const controlPlaneUrls = (c: AgentConfig) => c.apiUrls ?? [c.apiUrl];

export const defaultConfigPath = () => join(process.env.GATEWAY_HOME ?? join(homedir(), '.gateway'), 'agent.json');

export function resolveConfigPath(path?: string) {
  return resolve(path ?? defaultConfigPath());
}

export function writeAgentConfig(path: string, config: AgentConfig) {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

export function readAgentConfig(path: string): AgentConfig {
  if (!existsSync(path)) throw new CliError(`no agent config at ${path}: run "gateway install" first, or pass --config`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    throw new CliError(`the agent config at ${path} is not valid JSON: reinstall with "gateway install --force"`);
  }
  const parsed = AgentConfig.safeParse(raw);
  if (!parsed.success) throw new CliError(`the agent config at ${path} is missing ${parsed.error.issues[0].path.join('.')}: reinstall with "gateway install --force"`);
  return parsed.data;
}
