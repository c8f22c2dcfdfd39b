/**
 * `npm run bench -- scale [--sizes=100,1000,5000] [--seconds=10]`: one API against many simulated members.
 *
 * The members are lightweight fakes in this process that speak the real member protocol (hello, the signed
 * challenge, presence every heartbeatMs the API asks for, answers to live work), not the agent's code paths: each
 * is one WebSocket. They are registered straight in the database (clusters of 10, routing `distribute`), with
 * Ed25519 keys of their own. For each size the benchmark reports members connected (the API's own gauge),
 * heartbeats per second sent and taken in, no-op dispatches per second through the whole path (`POST
 * /api/clusters/:id/ping`, 16 in flight, random clusters) and the API's RSS and CPU.
 */
import { readFileSync } from 'node:fs';
import { Client } from 'pg';
import { WebSocket } from 'ws';
import { MEMBER_CONNECT_PATH, memberConnectMessage, PROTOCOL_VERSION, VERSION, type MemberMessage, type ServerMessage } from '@gateway/domain';
import { generateMemberKeyPair, signMessage } from '@gateway/domain/crypto';
import { cpuTimeMs, firstAdminToken, json, sleep, startApiProcess } from '@gateway/testing';

const METRICS_TOKEN = 'scale-bench-metrics-token-0123';
const PER_CLUSTER = 10;

type Fake = { id: string; clusterId: string; key: string; ws?: WebSocket; up: boolean };

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

export async function main(args: string[]) {
  const sizes = (args.find((a) => a.startsWith('--sizes='))?.slice(8) ?? '100,1000,5000').split(',').map(Number);
  const seconds = Number(args.find((a) => a.startsWith('--seconds='))?.slice(10) ?? 10);
  const heartbeatMs = args.find((a) => a.startsWith('--heartbeat-ms='))?.slice(15);
  /** How long each size may take to connect; what is connected by then is measured. */
  const connectBudgetMs = Number(args.find((a) => a.startsWith('--connect-s='))?.slice(12) ?? 120) * 1000;
  const api = await startApiProcess({ LOG_LEVEL: 'warn', METRICS_TOKEN, ...(heartbeatMs ? { HEARTBEAT_MS: heartbeatMs, PRESENCE_TTL_MS: String(Number(heartbeatMs) * 4) } : {}) });
  const pid = api.child.pid!;
  const db = new Client({ connectionString: api.databaseUrl });
  let heartbeats = 0;
  const fakes: Fake[] = [];
  try {
    const token = await firstAdminToken(api);
    const me = (await json<{ id: string }>(`${api.url}/api/auth/me`, 'GET', undefined, token)).body;
    await db.connect();
    const wsUrl = `${api.url.replace(/^http/, 'ws')}${MEMBER_CONNECT_PATH}`;

    const register = async (n: number) => {
      for (let c = fakes.length / PER_CLUSTER; c < n / PER_CLUSTER; c++) {
        const cluster = (await db.query<{ id: string }>(`INSERT INTO "Cluster" (id, name, "publicKey", "keyEnvelope", "ownerId", "routingMode", "updatedAt") VALUES (gen_random_uuid(), $1, 'bench', '{}', $2, 'distribute', now()) RETURNING id`, [`scale-${c}`, me.id])).rows[0];
        await db.query(`INSERT INTO "ClusterRole" ("clusterId", "userId", role) VALUES ($1, $2, 'admin')`, [cluster.id, me.id]);
        for (let m = 0; m < PER_CLUSTER; m++) {
          const keys = generateMemberKeyPair();
          const row = (await db.query<{ id: string }>(`INSERT INTO "Member" (id, "clusterId", name, "hostName", "agentVersion", "isPrimary", "publicKey") VALUES (gen_random_uuid(), $1, $2, 'bench', $3, $4, $5) RETURNING id`, [cluster.id, `m${m}`, VERSION, m === 0, keys.publicKey])).rows[0];
          fakes.push({ id: row.id, clusterId: cluster.id, key: keys.privateKey, up: false });
        }
      }
    };

    const connect = (f: Fake) =>
      new Promise<void>((resolve) => {
        const ws = new WebSocket(wsUrl, { perMessageDeflate: false });
        f.ws = ws;
        let timer: NodeJS.Timeout | null = null;
        const send = (m: MemberMessage) => ws.readyState === ws.OPEN && ws.send(JSON.stringify(m));
        ws.on('open', () => send({ t: 'hello', memberId: f.id, protocol: { min: 1, max: PROTOCOL_VERSION }, agentVersion: VERSION }));
        ws.on('message', (data) => {
          const m = JSON.parse(data.toString()) as ServerMessage;
          if (m.t === 'challenge') send({ t: 'auth', signature: signMessage(f.key, memberConnectMessage(f.id, m.nonce)) });
          else if (m.t === 'welcome') {
            f.up = true;
            const beat = () => {
              heartbeats += 1;
              send({ t: 'presence', cpu: 10, memory: 20, busy: 0, slots: 16 });
            };
            beat();
            timer = setInterval(beat, m.settings.heartbeatMs);
            resolve();
          } else if (m.t === 'live') send({ t: 'result', id: m.id, columns: [], rows: [], truncated: false, executeMs: 0 });
        });
        const done = () => {
          f.up = false;
          if (timer) clearInterval(timer);
          resolve();
        };
        ws.on('close', done);
        ws.on('error', done);
      });

    /** The API's own count (a scrape reads every cluster's presence and queue: slow with hundreds of clusters), or null after 15 s. */
    const connected = async () => {
      const text = await fetch(`${api.url}/api/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` }, signal: AbortSignal.timeout(15_000) }).then(
        (r) => r.text(),
        () => null,
      );
      return text === null ? null : Number(/^gateway_connected_members\{[^}]*\} (\d+)$/m.exec(text)?.[1] ?? 0);
    };
    const results: string[] = [];
    for (const size of sizes) {
      await register(size);
      const t0 = Date.now();
      for (let i = 0; i < size && Date.now() - t0 < connectBudgetMs; i += 100) await Promise.all(fakes.slice(i, i + 100).filter((f) => !f.up).map(connect));
      const connectS = (Date.now() - t0) / 1000;
      await sleep(3_000);
      const up = fakes.slice(0, size).filter((f) => f.up).length;
      const clusters = [...new Set(fakes.slice(0, size).map((f) => f.clusterId))];
      const [cpu0, beats0, at0] = [cpuTimeMs(pid), heartbeats, Date.now()];
      let dispatched = 0;
      let failed = 0;
      const until = Date.now() + seconds * 1000;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (Date.now() < until) {
            const r = await json(`${api.url}/api/clusters/${clusters[Math.floor(Math.random() * clusters.length)]}/ping`, 'POST', undefined, token).catch(() => ({ status: 0 }));
            if (r.status === 200) dispatched++;
            else failed++;
          }
        }),
      );
      const elapsed = (Date.now() - at0) / 1000;
      const cpu = (cpuTimeMs(pid) - cpu0) / (elapsed * 10);
      const scrapeT0 = Date.now();
      const gauge = await connected();
      const scrape = gauge === null ? 'a metrics scrape did not answer in 15 s' : `the API counts ${gauge} (its scrape took ${((Date.now() - scrapeT0) / 1000).toFixed(1)} s)`;
      const line = `${String(size).padStart(5)} members: ${up} connected in ${connectS.toFixed(1)} s (${scrape}), ${((heartbeats - beats0) / elapsed).toFixed(0)} heartbeats/s, ${(dispatched / elapsed).toFixed(0)} dispatches/s (${failed} failed), API RSS ${rssMb(pid).toFixed(0)} MB, API CPU ${cpu.toFixed(0)}% of one core`;
      console.log(line);
      results.push(line);
    }
  } finally {
    for (const f of fakes) f.ws?.terminate();
    await db.end().catch(() => undefined);
    await api.stop();
  }
}
