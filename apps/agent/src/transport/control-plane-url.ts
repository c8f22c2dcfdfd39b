import { BlockList, isIP } from 'node:net';
import { CliError } from '../errors';

// Plain HTTP stays on this machine when the host is loopback; anywhere else it would carry the agent's
// credentials and the data it serves over the network in clear text.
const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

function isLoopback(hostname: string): boolean {
  if (hostname === 'localhost') return true;
  const ip = hostname.replace(/^\[|\]$/g, '');
  const family = isIP(ip);
  // BlockList also matches IPv4-mapped IPv6 (::ffff:127.0.0.1) against the IPv4 subnet.
  return family !== 0 && loopback.check(ip, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * Checks and normalises the control plane's address given with --api: https:// always, http:// only to a
 * loopback address unless the user explicitly allows it with --insecure-http. No trailing slash.
 */
export function parseControlPlaneUrl(value: string, opts: { insecureHttp?: boolean } = {}): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new CliError(`--api "${value}" is not a URL: give the control plane's address, e.g. https://gateway.example.com`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CliError(`--api must be an http:// or https:// URL, not ${url.protocol}//`);
  // Credentials in the address would end up in logs and error messages; the agent has its own.
  if (url.username || url.password) throw new CliError(`--api must not contain a user name or password: give only the control plane's address, e.g. https://gateway.example.com`);
  const normalised = url.toString().replace(/\/+$/, '');
  if (url.protocol === 'http:' && !opts.insecureHttp && !isLoopback(url.hostname)) {
    throw new CliError(`--api ${normalised} is not encrypted: use https://, or pass --insecure-http to allow plain HTTP to a non-loopback address`);
  }
  return normalised;
}

/** The WebSocket address of a path on the control plane: https -> wss, http -> ws. */
export function wsUrlOf(apiUrl: string, path: string): string {
  const url = new URL(apiUrl);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CliError(`the control plane address must be an http:// or https:// URL, not ${url.protocol}//`);
  const scheme = url.protocol === 'https:' ? 'wss:' : 'ws:';
  const base = url.pathname.replace(/\/+$/, '');
  return `${scheme}//${url.host}${base}${path.startsWith('/') ? path : `/${path}`}`;
}
