/**
 * Benchmarks of the live path (issue figures), all measured in one run on this machine, each against a
 * baseline measured in the same run:
 *   1. added latency of SELECT 1 through the gateway over a direct pg connection (p50, p99);
 *   2. dispatch throughput of no-op work through the full path vs raw BullMQ (Queue.add -> Worker) at the same
 *      concurrency on the same Redis (the queue the member connection replaced for live work);
 *   3. failover: a client querying every 20 ms while the serving member is SIGKILLed, and while it is frozen (SIGSTOP).
 * Usage: npm run bench [-- --calls 2000 --warmup 2000 --seconds 10 --concurrency 16]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import * as testing from '@gateway/testing';
import { type AgentProcess, createSampleSources, dropRedisPrefix, REDIS_URL, sleep, startAgent, startApiProcess } from '@gateway/testing';
import { closeConnections, numberArg, pct, post, startLiveCluster } from './live-cluster';

const fmt = (n: number) => n.toFixed(2);

/**
 * The floor of the live path on this machine: the same processes and hops as the gateway's (an HTTP server, one
 * WebSocket to a member process, PostgreSQL), none of the gateway's work (see bench/floor/). What the gateway adds
 * above it is its own cost; what the floor adds above direct pg is the machine's.
 */
async function startFloor(postgresUrl: string): Promise<{ url: string; stop: () => void }> {
  const dir = path.join(__dirname, 'floor');
  const children: ChildProcess[] = [];
  const relay = spawn(process.execPath, [path.join(dir, 'relay.js')], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(relay);
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    relay.stdout!.on('data', (d) => {
      out += d;
      const ws = /FLOOR_WS (\d+)/.exec(out);
      if (ws && children.length === 1) children.push(spawn(process.execPath, [path.join(dir, 'member.js'), ws[1], postgresUrl], { stdio: 'inherit' }));
      const ready = /FLOOR_READY (\d+)/.exec(out);
      if (ready) resolve(Number(ready[1]));
    });
    relay.once('exit', (code) => reject(new Error(`the floor relay exited with ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}/`, stop: () => children.forEach((c) => c.kill('SIGKILL')) };
}

async function closedLoop(concurrency: number, seconds: number, op: () => Promise<void>) {
  const end = Date.now() + seconds * 1000;
  let done = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < end) {
        await op();
        done += 1;
      }
    }),
  );
  return done / ((performance.now() - started) / 1000);
}

/**
 * Raw BullMQ in this process: `inFlight` producers each adding a no-op and waiting for it, and `workers` workers
 * of `slots` slots each.
 */
async function rawBullmq(inFlight: number, slots: number, seconds: number, workers = 1) {
  const prefix = `gwbench-${randomUUID().slice(0, 8)}`;
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new Queue('raw', { connection, prefix });
  const waiting = new Map<string, () => void>();
  const workerConnection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const all = Array.from({ length: workers }, () => new Worker('raw', async () => undefined, { connection: workerConnection, prefix, concurrency: slots, drainDelay: 1 }));
  for (const worker of all) worker.on('completed', (job: Job) => waiting.get(job.id!)?.());
  await Promise.all(all.map((w) => w.waitUntilReady()));
  try {
    return await closedLoop(inFlight, seconds, async () => {
      const id = randomUUID();
      const done = new Promise<void>((r) => waiting.set(id, r));
      await queue.add('noop', {}, { jobId: id, removeOnComplete: true });
      await done;
      waiting.delete(id);
    });
  } finally {
    await Promise.all(all.map((w) => w.close()));
    workerConnection.disconnect();
    await queue.obliterate({ force: true });
    await queue.close();
    connection.disconnect();
    await dropRedisPrefix(prefix);
  }
}

export async function main(args: string[]) {
  const calls = numberArg(args, 'calls', 2000);
  const seconds = numberArg(args, 'seconds', 10);
  const concurrency = numberArg(args, 'concurrency', 16);
  const quiet = { LOG_LEVEL: 'warn' };
  console.log(`bench: ${calls} latency calls after ${numberArg(args, 'warmup', 2000)} of warm-up, ${seconds} s throughput runs at concurrency ${concurrency}`);

  const [api, sources] = await Promise.all([startApiProcess(quiet), createSampleSources()]);
  const agents: AgentProcess[] = [];
  try {
    const { token, clusterId, primaryConfig, queryUrl } = await startLiveCluster(testing, api, sources, 'bench', agents);

    // 1. Latency: direct pg, the floor (same hops, no gateway work) and through the gateway, interleaved in blocks
    // so that all three see the same machine noise.
    const direct = new Client({ host: sources.postgres.host, port: sources.postgres.port, database: sources.postgres.database, user: 'postgres' });
    await direct.connect();
    const floor = await startFloor(`postgresql://postgres@${sources.postgres.host}:${sources.postgres.port}/${sources.postgres.database}`);
    const directMs: number[] = [];
    const floorMs: number[] = [];
    const gatewayMs: number[] = [];
    // Warm-up: the figures are of the steady state a long-running gateway is in. The API's and the member's code
    // is still being optimized by V8 for the first 2,000 or so calls (p50 about twice the steady one before that).
    const warmup = numberArg(args, 'warmup', 2000);
    for (let i = 0; i < warmup; i++) {
      await direct.query('SELECT 1');
      await post(floor.url, token, { sql: 'SELECT 1' });
      await post(queryUrl, token, { sql: 'SELECT 1' });
    }
    const block = async (into: number[], op: () => Promise<unknown>) => {
      for (let i = 0; i < 100; i++) {
        const t = performance.now();
        await op();
        into.push(performance.now() - t);
      }
    };
    for (let b = 0; b < calls / 100; b++) {
      await block(directMs, () => direct.query('SELECT 1'));
      await block(floorMs, () => post(floor.url, token, { sql: 'SELECT 1' }));
      await block(gatewayMs, async () => {
        const r = await post(queryUrl, token, { sql: 'SELECT 1' });
        if (r.status !== 200) throw new Error(`query failed: ${r.body}`);
      });
    }
    await direct.end();
    floor.stop();
    for (const a of [directMs, floorMs, gatewayMs]) a.sort((x, y) => x - y);
    const latency = {
      direct: { p50: pct(directMs, 50), p99: pct(directMs, 99) },
      floor: { p50: pct(floorMs, 50), p99: pct(floorMs, 99) },
      gateway: { p50: pct(gatewayMs, 50), p99: pct(gatewayMs, 99) },
    };

    // 2. Throughput of no-op work: raw BullMQ in this process vs the full path (HTTP, auth, routing, the member's
    // connection, the member, back), at the same concurrency (in flight, and worker slots = the member's slots).
    // Raw BullMQ runs twice, before and after, so a drift of the machine shows.
    const raw1 = await rawBullmq(concurrency, concurrency, seconds / 2);
    const pingUrl = `${api.url}/api/clusters/${clusterId}/ping`;
    const full = await closedLoop(concurrency, seconds, async () => {
      const r = await post(pingUrl, token);
      if (r.status !== 200) throw new Error(`ping failed: ${r.body}`);
    });
    const raw2 = await rawBullmq(concurrency, concurrency, seconds / 2);
    const raw = (raw1 + raw2) / 2;

    // 3. Failover: query every 20 ms; SIGKILL (then SIGSTOP) the serving member; the longest time without an answer.
    const failover = async (act: () => Promise<void>, after: () => Promise<void>) => {
      const successes: number[] = [];
      let errors = 0;
      let stop = false;
      const client = (async () => {
        while (!stop) {
          const tick = Date.now();
          const r = await post(queryUrl, token, { sql: 'SELECT 1' });
          if (r.status === 200) successes.push(Date.now());
          else errors += 1;
          await sleep(Math.max(0, 20 - (Date.now() - tick)));
        }
      })();
      await sleep(1500);
      const at = Date.now();
      await act();
      await sleep(4000);
      stop = true;
      await client;
      await after();
      let gap = 0;
      for (let i = 1; i < successes.length; i++) gap = Math.max(gap, successes[i] - successes[i - 1]);
      return { gap, errors, answers: successes.length, first: (successes.find((t) => t > at) ?? NaN) - at };
    };
    const killed = await failover(
      () => agents[0].kill('SIGKILL'),
      async () => {
        // The primary back for the next round, serving again.
        agents[0] = await startAgent(primaryConfig);
        await sleep(1500);
      },
    );
    const frozen = await failover(
      async () => void agents[0].child.kill('SIGSTOP'),
      async () => void agents[0].child.kill('SIGCONT'),
    );

    console.log('\n| figure | gateway | baseline | result | target |');
    console.log('| --- | --- | --- | --- | --- |');
    console.log(`| SELECT 1 latency p50 (${calls} calls) | ${fmt(latency.gateway.p50)} ms | ${fmt(latency.direct.p50)} ms direct pg | +${fmt(latency.gateway.p50 - latency.direct.p50)} ms | <= 1 ms |`);
    console.log(`| SELECT 1 latency p99 (${calls} calls) | ${fmt(latency.gateway.p99)} ms | ${fmt(latency.direct.p99)} ms direct pg | +${fmt(latency.gateway.p99 - latency.direct.p99)} ms | <= 5 ms |`);
    console.log(`| (floor) the same hops without the gateway: HTTP server, one WebSocket, a member process, pg | p50 ${fmt(latency.floor.p50)} ms, p99 ${fmt(latency.floor.p99)} ms | ${fmt(latency.direct.p50)} / ${fmt(latency.direct.p99)} ms direct pg | the machine's share: +${fmt(latency.floor.p50 - latency.direct.p50)} / +${fmt(latency.floor.p99 - latency.direct.p99)} ms; the gateway's own: +${fmt(latency.gateway.p50 - latency.floor.p50)} / +${fmt(latency.gateway.p99 - latency.floor.p99)} ms | |`);
    console.log(`| no-op live throughput (concurrency ${concurrency}) | ${full.toFixed(0)} /s | ${raw.toFixed(0)} jobs/s raw BullMQ (${raw1.toFixed(0)} before, ${raw2.toFixed(0)} after) | ratio ${(full / raw).toFixed(2)} | >= 1.0 |`);
    console.log(`| failover after SIGKILL: longest gap without an answer | ${killed.gap} ms | query every 20 ms | first answer ${killed.first} ms after the kill | <= 250 ms |`);
    console.log(`| failover after SIGKILL: client-visible errors | ${killed.errors} | ${killed.answers} answers | | 0 |`);
    console.log(`| failover after SIGSTOP: longest gap without an answer | ${frozen.gap} ms | query every 20 ms | first answer ${frozen.first} ms after the freeze | <= 2000 ms |`);
    console.log(`| failover after SIGSTOP: client-visible errors | ${frozen.errors} | ${frozen.answers} answers | | 0 |`);
  } finally {
    await Promise.all(agents.map((x) => x.kill('SIGKILL')));
    await api.stop();
    await sources.drop();
    closeConnections();
  }
}
