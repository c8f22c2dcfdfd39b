/**
 * What the live path's benchmarks share: their argument reading, percentiles, a minimal keep-alive POST, and the
 * cluster they query (two members and a PostgreSQL data source on the sample database).
 */
import { Agent as HttpAgent, request } from 'node:http';
import type * as Testing from '@gateway/testing';

/** `--name value` as a number, or the fallback. */
export const numberArg = (args: string[], name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};

export const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

const keepAlive = new HttpAgent({ keepAlive: true, maxSockets: 64 });

/** A minimal JSON POST over a keep-alive agent (fetch's pool adds its own overhead to what we measure). */
export function post(url: string, token: string, body?: unknown): Promise<{ status: number; body: string }> {
  const data = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent: keepAlive, headers: { authorization: `Bearer ${token}`, ...(data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {}) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

/** Closes the kept-alive connections (the agent stays usable). */
export const closeConnections = () => keepAlive.destroy();

/**
 * A cluster `name` on the API: members a (the primary) and b, each run by an agent, and a PostgreSQL data source.
 * The agents are pushed onto `agents` as they start, so that the caller stops them whatever fails after.
 * `t` is the test support of the checkout whose agents are to run (see compare.bench.ts).
 */
export async function startLiveCluster(t: typeof Testing, api: Testing.ApiProcess, sources: Awaited<ReturnType<typeof Testing.createSampleSources>>, name: string, agents: Testing.AgentProcess[]) {
  const token = await t.firstAdminToken(api);
  const a = await t.installMember(api, token, { name, member: 'a', recoveryKey: 'bench-recovery-key' });
  const b = await t.installMember(api, token, { join: name, member: 'b', recoveryKey: 'bench-recovery-key' });
  agents.push(await t.startAgent(a.config), await t.startAgent(b.config));
  const ds = await post(`${api.url}/api/clusters/${a.clusterId}/datasources`, token, {
    name: 'pg',
    type: 'postgres',
    connection: { host: sources.postgres.host, port: sources.postgres.port, database: sources.postgres.database },
    credentials: { username: 'postgres', password: '' },
  });
  if (ds.status !== 201) throw new Error(`could not add the data source: ${ds.body}`);
  const queryUrl = `${api.url}/api/datasources/${JSON.parse(ds.body).id as string}/query`;
  return { token, clusterId: a.clusterId, primaryConfig: a.config, queryUrl };
}
