import { execFileSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';

export interface OnPremHost {
  /** The network namespace's name (`gwtest-…`). */
  name: string;
  /** The host's end of the link: the only address reachable from inside. */
  hostAddress: string;
  /** The namespace's own address on the link. */
  address: string;
  /** `ip netns exec <name> <command...>`: a command run inside, as argv. */
  wrap(command: string, args: string[]): [string, string[]];
  /** Runs a command inside and returns its stdout. */
  exec(command: string, args: string[]): string;
  /** Deletes the namespace and the link; safe to call twice or after a failed setup. */
  remove(): void;
}

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe', encoding: 'utf8' });

/** A /30 in a /24 of 10.231.0.0/16 that no interface of this machine uses yet (a parallel run picks another). */
function freeSubnet(): [string, string] {
  const used = ip('-o', '-4', 'addr', 'show');
  for (let i = 0; i < 50; i++) {
    const prefix = `10.231.${randomInt(0, 256)}.`;
    const base = randomInt(0, 64) * 4;
    if (!used.includes(`inet ${prefix}`)) return [`${prefix}${base + 1}`, `${prefix}${base + 2}`];
  }
  throw new Error('no free /24 in 10.231.0.0/16');
}

/**
 * A network namespace standing in for an on-premises host: a veth link to this machine, its own loopback, and no
 * default route, so the only thing it can reach is the host's end of the link (where the test's proxy listens).
 * Needs root (CAP_NET_ADMIN). Names are random: parallel runs cannot collide.
 */
export function createOnPremHost(): OnPremHost {
  const id = randomBytes(3).toString('hex');
  const name = `gwtest-${id}`;
  // Interface names have at most 15 characters.
  const hostIf = `gwh${id}`;
  const nsIf = `gwn${id}`;
  const [hostAddress, address] = freeSubnet();
  const host: OnPremHost = {
    name,
    hostAddress,
    address,
    wrap: (command, args) => ['ip', ['netns', 'exec', name, command, ...args]],
    exec: (command, args) => execFileSync('ip', ['netns', 'exec', name, command, ...args], { stdio: 'pipe', encoding: 'utf8' }),
    remove() {
      // Deleting the namespace deletes its end of the veth pair, which takes the host's end with it; the
      // explicit delete covers a setup that failed between creating the pair and moving one end inside.
      for (const args of [['netns', 'delete', name], ['link', 'delete', hostIf]]) {
        try {
          ip(...args);
        } catch {
          // already gone
        }
      }
    },
  };
  try {
    ip('netns', 'add', name);
    ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf);
    ip('link', 'set', nsIf, 'netns', name);
    ip('addr', 'add', `${hostAddress}/30`, 'dev', hostIf);
    ip('link', 'set', hostIf, 'up');
    ip('-n', name, 'addr', 'add', `${address}/30`, 'dev', nsIf);
    ip('-n', name, 'link', 'set', nsIf, 'up');
    ip('-n', name, 'link', 'set', 'lo', 'up');
    // Deliberately no `ip route add default`: the on-link /30 is all the namespace can reach.
  } catch (e) {
    host.remove();
    throw e;
  }
  return host;
}
