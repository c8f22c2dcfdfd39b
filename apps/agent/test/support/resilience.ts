import { readdirSync, readFileSync } from 'node:fs';
import { Client } from 'pg';
import { dropRedisPrefix, sleep, type AgentProcess, type ApiProcess } from './processes';

/** One answer of a client loop: when it was asked and answered, with what, by whom. */
export interface LoopAnswer {
  startedAt: number;
  endedAt: number;
  status: number;
  member?: string;
  attempts?: number;
  error?: string;
}

type Served = { servedBy?: { memberName?: string }; timings?: { attempts?: number }; message?: string };

/**
 * A client asking the same live query again and again (one at a time, `everyMs` apart), recording every answer.
 * A request that throws (connection refused, reset, or no answer within `timeoutMs`) is recorded with status 0.
 */
export class QueryLoop {
  readonly answers: LoopAnswer[] = [];
  private running = true;
  private readonly done: Promise<void>;

  constructor(
    private readonly url: string,
    private readonly token: string,
    private readonly body: Record<string, unknown>,
    private readonly everyMs = 20,
    private readonly timeoutMs = 20_000,
  ) {
    this.done = this.loop();
  }

  private async loop() {
    while (this.running) {
      const startedAt = Date.now();
      try {
        const res = await fetch(this.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${this.token}` },
          body: JSON.stringify(this.body),
          signal: AbortSignal.timeout(this.timeoutMs),
        });
        const body = (await res.json()) as Served;
        this.answers.push({
          startedAt,
          endedAt: Date.now(),
          status: res.status,
          member: body.servedBy?.memberName,
          attempts: body.timings?.attempts,
          ...(res.status === 200 ? {} : { error: body.message }),
        });
      } catch (e) {
        const cause = (e as { cause?: unknown }).cause;
        this.answers.push({ startedAt, endedAt: Date.now(), status: 0, error: `${(e as Error).message}${cause ? `: ${String(cause)}` : ''}` });
      }
      await sleep(this.everyMs);
    }
  }

  get last(): LoopAnswer | undefined {
    return this.answers.at(-1);
  }

  async stop() {
    this.running = false;
    await this.done;
  }

  /** Answers other than 200. */
  get failures() {
    return this.answers.filter((a) => a.status !== 200);
  }

  /** The longest time between two consecutive answers (or from `from` to the first answer after it). */
  longestGap(from?: number): { ms: number; after: number } {
    const ends = this.answers.filter((a) => a.status === 200).map((a) => a.endedAt);
    if (from !== undefined) ends.push(from);
    ends.sort((a, b) => a - b);
    let ms = 0;
    let after = ends[0] ?? 0;
    for (let i = 1; i < ends.length; i++) {
      if (ends[i] - ends[i - 1] > ms) {
        ms = ends[i] - ends[i - 1];
        after = ends[i - 1];
      }
    }
    return { ms, after };
  }

  /** How many answers each member gave. */
  byMember(answers = this.answers) {
    const counts: Record<string, number> = {};
    for (const a of answers) counts[a.member ?? `status ${a.status}`] = (counts[a.member ?? `status ${a.status}`] ?? 0) + 1;
    return counts;
  }
}

/** A process's memory from /proc/<pid>/status, in MB (MiB): current (VmRSS) and peak (VmHWM) resident size. */
export function memoryOf(pid: number): { rssMb: number; peakMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
    return Number(m[1]);
  };
  return { rssMb: Math.round(kb('VmRSS') / 102.4) / 10, peakMb: Math.round(kb('VmHWM') / 102.4) / 10 };
}

/**
 * The process that does the work behind a child started with `node tools/...js`: the child itself, unless it
 * spawned a node process of its own (then that one).
 */
export function workerPidOf(pid: number): number {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces, so read after its closing parenthesis.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid && readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes('node')) return Number(entry);
    } catch {
      // the process ended meanwhile
    }
  }
  return pid;
}

/** The pino lines of a process's output (JSON lines; anything else is skipped). */
export function logLines(output: string): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = [];
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a line cut in the middle (the process still writing)
    }
  }
  return lines;
}

/** The control-plane URLs an agent logged "connected to the control plane" to, in order. */
export const connectionsOf = (agent: AgentProcess) =>
  logLines(agent.output())
    .filter((l) => l.msg === 'connected to the control plane')
    .map((l) => String(l.api));

/** Continues a stopped agent (a stopped process handles no signal but SIGKILL and SIGCONT) and kills it. */
export async function killAgent(agent: AgentProcess | undefined) {
  if (!agent || agent.child.exitCode !== null || agent.child.signalCode !== null) return;
  agent.child.kill('SIGCONT');
  await agent.kill('SIGKILL');
}

/**
 * Drops the database and Redis prefix of a deployment whose first API instance (the owner, which drops them in
 * stop()) was killed: to be called once every instance and agent of it has stopped.
 */
export async function dropDeployment(owner: ApiProcess) {
  await dropRedisPrefix(owner.redisPrefix);
  const url = new URL(owner.databaseUrl);
  const dbName = url.pathname.slice(1);
  url.pathname = '/postgres';
  const admin = new Client({ connectionString: url.toString() });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

/** Snapshot chunks of a refresh in the control plane's database, per attempt. */
export async function chunksOf(databaseUrl: string, refreshId: string) {
  const c = new Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    const r = await c.query<{ attempt: number; n: number }>('SELECT attempt, count(*)::int AS n FROM "SnapshotChunk" WHERE "refreshId" = $1 GROUP BY attempt ORDER BY attempt', [refreshId]);
    return r.rows;
  } finally {
    await c.end();
  }
}
