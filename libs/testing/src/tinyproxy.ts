import { spawn } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort } from './net';
import { bounded, sleep } from './wait';

export interface Tinyproxy {
  host: string;
  port: number;
  /** http://host:port, for HTTPS_PROXY. */
  url: string;
  /** The whole log so far. */
  log(): string;
  /** The host:port targets of every CONNECT logged so far, in order (`127.0.0.1:5432`). */
  connectTargets(): string[];
  /** How many CONNECTs to `target` (host:port) the proxy has logged. */
  connects(target: string): number;
  /** The client address of every connection the proxy accepted. */
  clients(): string[];
  stop(): Promise<void>;
}

export interface TinyproxyOptions {
  /** Where the config, log and pid file go (made world-writable: as root tinyproxy drops to nobody). */
  dir: string;
  /** The address to listen on; default 127.0.0.1. */
  listen?: string;
  /** Client addresses allowed; default the listen address. */
  allow?: string[];
  /** More config lines. */
  extra?: string[];
}

/**
 * tinyproxy 1.11 in the foreground, a stand-in for a corporate HTTP proxy. Without a ConnectPort line it tunnels
 * (CONNECT) to any port; its log at level Info has a line per CONNECT request, which is what the tests count.
 */
export async function startTinyproxy(opts: TinyproxyOptions): Promise<Tinyproxy> {
  const host = opts.listen ?? '127.0.0.1';
  chmodSync(opts.dir, 0o777);
  const port = await freePort();
  const logFile = path.join(opts.dir, 'tinyproxy.log');
  const asRoot = process.getuid?.() === 0 ? ['User nobody', 'Group nogroup'] : [];
  const conf = [
    ...asRoot,
    `Port ${port}`,
    `Listen ${host}`,
    'Timeout 120',
    `LogFile "${logFile}"`,
    'LogLevel Info',
    `PidFile "${path.join(opts.dir, 'tinyproxy.pid')}"`,
    'MaxClients 100',
    ...(opts.allow ?? [host]).map((a) => `Allow ${a}`),
    ...(opts.extra ?? []),
  ];
  const confFile = path.join(opts.dir, 'tinyproxy.conf');
  writeFileSync(confFile, `${conf.join('\n')}\n`);
  const child = spawn('tinyproxy', ['-d', '-c', confFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  child.once('error', (e) => (output += `\n${e.message}`));
  const log = () => {
    try {
      return readFileSync(logFile, 'utf8');
    } catch {
      return '';
    }
  };
  const running = () => child.exitCode === null && child.signalCode === null;
  // Ready once its main loop runs: waiting on the log rather than probing the port keeps probes out of the log.
  const deadline = Date.now() + 20_000;
  while (!log().includes('Accepting connections')) {
    if (!running()) throw new Error(`tinyproxy exited at start (is it installed? apt-get install -y tinyproxy):\n${output}\n${log()}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`tinyproxy did not start on ${host}:${port} in 20 s:\n${output}\n${log()}`);
    }
    await sleep(50);
  }
  const connectTargets = () => [...log().matchAll(/: CONNECT (\S+) HTTP\//g)].map((m) => m[1]);
  return {
    host,
    port,
    url: `http://${host}:${port}`,
    log,
    connectTargets,
    connects: (target) => connectTargets().filter((t) => t === target).length,
    clients: () => [...log().matchAll(/: Connect \(file descriptor \d+\): (\S+)/g)].map((m) => m[1]),
    async stop() {
      if (!running()) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await bounded(exited, 5_000);
      if (running()) child.kill('SIGKILL');
    },
  };
}
