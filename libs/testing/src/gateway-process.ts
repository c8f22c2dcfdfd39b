import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { CliResult } from './agent-process';
import { logLines as parseLogLines } from './logs';
import { ROOT } from './paths';
import type { OnPremHost } from './netns';
import { bounded, sleep } from './wait';

/** Every variable through which a proxy could reach the agent, besides the ones a test sets on purpose. */
const PROXY_VARS = /^(https?_proxy|no_proxy|all_proxy|npm_config_(https_|http_|no)?proxy)$/i;

/** This process's environment without any proxy setting, plus `extra`: what the agent sees is what the test says. */
export function envWithoutProxies(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!PROXY_VARS.test(k)) env[k] = v;
  return { ...env, LOG_LEVEL: 'info', ...extra };
}

export interface GatewayProcess {
  child: ChildProcess;
  pid: number;
  /** stdout and stderr so far, interleaved. */
  output(): string;
  stdout(): string;
  stderr(): string;
  /** The JSON log lines on stdout so far. */
  logLines(): Record<string, unknown>[];
  /** Resolves with the first log line that `match` accepts; rejects when the process exits or time is up. */
  waitForLog(match: (line: Record<string, unknown>) => boolean, what: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  running(): boolean;
  /** SIGTERM, then SIGKILL if it is still there after a few seconds. */
  stop(): Promise<void>;
}

const spawned = new Set<GatewayProcess>();

function command(args: string[], host?: OnPremHost): [string, string[]] {
  const argv = [path.join(ROOT, 'tools/gateway.js'), ...args];
  return host ? host.wrap(process.execPath, argv) : [process.execPath, argv];
}

/**
 * `gateway <args>` as a child process, inside `host`'s network namespace when given. Unlike startAgent() it does
 * not wait for "is on duty": a test can watch an agent that never gets there.
 */
export function spawnGateway(args: string[], opts: { env: NodeJS.ProcessEnv; host?: OnPremHost }): GatewayProcess {
  const [cmd, argv] = command(args, opts.host);
  const child = spawn(cmd, argv, { env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => {
    out += d;
    stdout += d;
  });
  child.stderr!.on('data', (d) => {
    out += d;
    stderr += d;
  });
  const running = () => child.exitCode === null && child.signalCode === null;
  const logLines = () => parseLogLines(stdout);
  const proc: GatewayProcess = {
    child,
    pid: child.pid!,
    output: () => out,
    stdout: () => stdout,
    stderr: () => stderr,
    logLines,
    running,
    async waitForLog(match, what, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = logLines().find(match);
        if (found) return found;
        if (!running()) throw new Error(`gateway ${args[0]} exited (${child.exitCode ?? child.signalCode}) before ${what}:\n${out.slice(-4000)}`);
        if (Date.now() > deadline) throw new Error(`gateway ${args[0]}: no ${what} within ${timeoutMs / 1000} s:\n${out.slice(-4000)}`);
        await sleep(100);
      }
    },
    async stop() {
      spawned.delete(proc);
      if (!running()) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await bounded(exited, 8_000);
      if (running()) {
        child.kill('SIGKILL');
        await bounded(exited, 2_000);
      }
    },
  };
  spawned.add(proc);
  return proc;
}

/** `gateway run --config <file>`, resolved once the member is on duty. */
export async function runAgent(config: string, opts: { env: NodeJS.ProcessEnv; host?: OnPremHost }): Promise<GatewayProcess> {
  const agent = spawnGateway(['run', '--config', config], opts);
  try {
    await agent.waitForLog((l) => typeof l.msg === 'string' && l.msg.includes('is on duty'), '"is on duty"', 45_000);
  } catch (e) {
    await agent.stop();
    throw e;
  }
  return agent;
}

/** `gateway <args>` to its end (a one-shot command such as install), inside `host` when given. */
export async function runGateway(args: string[], opts: { env: NodeJS.ProcessEnv; host?: OnPremHost }, timeoutMs = 60_000): Promise<CliResult> {
  const proc = spawnGateway(args, opts);
  const exited = new Promise<number | null>((r) => proc.child.once('close', (code) => r(code)));
  const timer = setTimeout(() => void proc.stop(), timeoutMs);
  const status = await exited;
  clearTimeout(timer);
  spawned.delete(proc);
  return { status, stdout: proc.stdout(), stderr: proc.stderr() };
}

/** Stops every process spawned here that is still running (afterAll, also after a failed test). */
export async function stopAllGateways(): Promise<void> {
  await Promise.all([...spawned].map((p) => p.stop()));
}
