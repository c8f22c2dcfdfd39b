import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { ApiProcess } from './api-process';
import { logLines } from './logs';
import { ROOT, tempDir } from './paths';

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `npm run -s gateway -- ...`'s entry as a child process (asynchronously: the test's own servers keep answering). */
export function gateway(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'tools/gateway.js'), ...args], {
      env: { ...process.env, GATEWAY_HOME: tempDir('gateway-home-'), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('error', reject);
    child.once('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

export interface AgentProcess {
  child: ChildProcess;
  output: () => string;
  kill(signal: NodeJS.Signals): Promise<void>;
}

/** `gateway run --config <file>` as a child process, resolved once it is on duty. */
export async function startAgent(config: string, env: Record<string, string> = {}): Promise<AgentProcess> {
  const child = spawn(process.execPath, [path.join(ROOT, 'tools/gateway.js'), 'run', '--config', config], {
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the agent did not start in 30 s:\n${out}`)), 30_000);
    const onData = () => {
      if (out.includes('is on duty')) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the agent exited with ${code}:\n${out}`));
    });
  });
  return {
    child,
    output: () => out,
    kill: async (signal) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill(signal);
      await exited;
    },
  };
}

/** Installs a member with the CLI and returns its config path and ids. */
export async function installMember(
  api: ApiProcess,
  token: string,
  args: { name?: string; join?: string; member: string; recoveryKey: string; apiUrls?: string[]; extra?: string[]; env?: Record<string, string> },
) {
  const config = path.join(tempDir(`member-${args.member}-`), 'agent.json');
  const mode = args.name ? ['--name', args.name] : ['--join', args.join!];
  const apis = (args.apiUrls ?? [api.url]).flatMap((u) => ['--api', u]);
  const r = await gateway(['install', ...apis, '--token', token, ...mode, '--recovery-key', args.recoveryKey, '--member-name', args.member, '--config', config, '--json', ...(args.extra ?? [])], args.env);
  if (r.status !== 0) throw new Error(`install failed: ${r.stderr}`);
  const out = JSON.parse(r.stdout) as { clusterId: string; memberId: string };
  return { config, ...out };
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
