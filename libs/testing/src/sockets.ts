import { execFileSync } from 'node:child_process';

export interface TcpSocket {
  state: string;
  local: string;
  peer: string;
  peerPort: number;
  pid: number;
}

/** `[::ffff:127.0.0.1]:6379` or `127.0.0.1:6379` → 6379. */
const portOf = (endpoint: string) => Number(endpoint.slice(endpoint.lastIndexOf(':') + 1));

/** A process and every process under it: `gateway run` may hand its work to a child. */
export function processTree(pid: number): number[] {
  const rows = execFileSync('ps', ['-e', '-o', 'pid=,ppid='], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/).map(Number));
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) for (const [child, parent] of rows) if (parent === tree[i] && !tree.includes(child)) tree.push(child);
  return tree;
}

/**
 * The TCP connections (every state but LISTEN) held by `pid` and its children, from `ss -tanpH`; run inside the
 * network namespace `netns` when given (ss only sees the sockets of the namespace it runs in).
 */
export function tcpConnectionsOf(pid: number, netns?: string): TcpSocket[] {
  const pids = processTree(pid);
  const [cmd, args] = netns ? ['ip', ['netns', 'exec', netns, 'ss', '-tanpH']] : ['ss', ['-tanpH']];
  const out = execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const sockets: TcpSocket[] = [];
  for (const line of out.split('\n')) {
    const [state, , , local, peer, ...rest] = line.trim().split(/\s+/);
    if (!state || state === 'LISTEN' || !peer) continue;
    // users:(("node",pid=1234,fd=20)) — a socket can be shared, so every pid on the line counts.
    const owners = [...rest.join(' ').matchAll(/pid=(\d+),/g)].map((m) => Number(m[1]));
    const owner = owners.find((p) => pids.includes(p));
    if (owner !== undefined) sockets.push({ state, local, peer, peerPort: portOf(peer), pid: owner });
  }
  return sockets;
}
