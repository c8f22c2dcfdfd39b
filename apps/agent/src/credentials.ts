import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { homedir } from 'node:os';
import { z } from 'zod';
import { parseApiUrl } from './api-client';
import { CliError } from './errors';

/** Where `gateway login` keeps the admin's API address and token (mode 0600). */
export const credentialsPath = () => join(process.env.GATEWAY_HOME ?? join(homedir(), '.gateway'), 'credentials.json');

const Stored = z.object({ apiUrl: z.string(), token: z.string(), email: z.string() });
export type StoredCredentials = z.infer<typeof Stored>;

export function saveCredentials(c: StoredCredentials) {
  const path = credentialsPath();
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(c, null, 2) + '\n', { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

export function loadCredentials(): StoredCredentials | null {
  const path = credentialsPath();
  if (!existsSync(path)) return null;
  const parsed = Stored.safeParse(JSON.parse(readFileSync(path, 'utf8')));
  return parsed.success ? parsed.data : null;
}

export function forgetCredentials() {
  rmSync(credentialsPath(), { force: true });
}

/** The API address and token for an admin command: flags, then GATEWAY_API / GATEWAY_TOKEN, then `gateway login`. */
export function resolveAccess(opts: { api?: string; token?: string }): { apiUrl: string; token: string } {
  const stored = loadCredentials();
  const api = opts.api ?? process.env.GATEWAY_API ?? stored?.apiUrl;
  const token = opts.token ?? process.env.GATEWAY_TOKEN ?? stored?.token;
  if (!api || !token) throw new CliError('not signed in: run "gateway login --api <url> --email <email>" (or pass --api and --token)');
  return { apiUrl: parseApiUrl(api), token };
}
