import { CliError } from '../errors';
import { ProxyTunnelError } from './tunnel-agent';

/** No answer in time; `ms` says how long was waited. */
export class ConnectTimeout extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(readonly ms: number) {
    super(`no answer within ${ms / 1000} s`);
    this.name = 'ConnectTimeout';
  }
}

// The certificate chain could not be checked against the trusted CAs: a private CA the agent lacks.
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);
const EXPIRED = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);
const WRONG_NAME = new Set(['ERR_TLS_CERT_ALTNAME_INVALID', 'HOSTNAME_MISMATCH']);

interface Failure {
  code?: string;
  message: string;
  ms?: number;
}

function failureOf(err: unknown): Failure {
  // Duck-typed, not `instanceof Error`: errors made by Node core come from another realm under jest's vm.
  if (typeof err === 'object' && err !== null && typeof (err as { message?: unknown }).message === 'string') {
    const { code, message } = err as { code?: unknown; message: string };
    return { code: typeof code === 'string' ? code : undefined, message, ms: err instanceof ConnectTimeout ? err.ms : undefined };
  }
  return { message: String(err) };
}

/** One line, no credentials: a reason from a library may quote a URL with user:password in it. */
function clean(text: string): string {
  return text
    .replace(/\/\/[^/@\s]*@/g, '//')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 200);
}

/** `message: CODE`, or either when they say the same. */
function reasonOf(f: Failure): string {
  if (!f.code || f.message.includes(f.code)) return clean(f.message);
  return clean(`${f.message}: ${f.code}`);
}

function hostOf(url: string): string {
  try {
    const u = new URL(url);
    return u.port ? u.host : `${u.host}:${u.protocol === 'https:' || u.protocol === 'wss:' ? 443 : 80}`;
  } catch {
    return 'the control plane';
  }
}

function describeProxy(err: ProxyTunnelError): string {
  const { proxyHost, target, detail } = err;
  const proxy = `the proxy ${proxyHost}`;
  if (detail.status !== undefined) {
    const answer = clean(`HTTP ${detail.status} ${detail.statusText ?? ''}`);
    // Proxies answer bad credentials with 407; tinyproxy answers a wrong password with 401.
    if (detail.status === 407 || detail.status === 401) return `${proxy} refused the credentials for a tunnel to ${target} (${answer}): check the user and password in --proxy or HTTPS_PROXY`;
    if (detail.status === 403) return `${proxy} does not allow a tunnel to ${target} (${answer}): ask its administrator to allow CONNECT to that port, or exclude the host with NO_PROXY`;
    return `${proxy} could not open a tunnel to ${target} (${answer}): check that the proxy can reach the control plane, and --api`;
  }
  const cause = failureOf(detail.cause);
  const why = reasonOf(cause);
  if (cause.code === 'ENOTFOUND' || cause.code === 'EAI_AGAIN') return `cannot resolve the proxy ${proxyHost} (${why}): check the proxy's host name in --proxy or HTTPS_PROXY`;
  return `cannot use the proxy ${proxyHost} for ${target} (${why}): check --proxy or HTTPS_PROXY, or exclude the host with NO_PROXY`;
}

/**
 * One line naming the host and what went wrong when reaching the control plane at `url`, with what to do
 * about it. Never contains credentials of the control plane's or the proxy's URL.
 */
export function describeConnectError(err: unknown, url: string): string {
  // Already described (the error a ControlPlaneSocket emits): describing it again would bury it in a vaguer line.
  if (err instanceof ControlPlaneUnreachable) return err.message;
  if (err instanceof ProxyTunnelError) return describeProxy(err);
  const host = hostOf(url);
  const f = failureOf(err);
  const why = reasonOf(f);
  const code = f.code ?? '';
  if (UNTRUSTED.has(code)) return `cannot verify the TLS certificate of ${host} (${why}): pass --ca <file> with the CA that signed it`;
  if (EXPIRED.has(code)) return `the TLS certificate of ${host} is outside its validity period (${why}): renew the control plane's certificate, or check this machine's clock`;
  if (WRONG_NAME.has(code)) return `the TLS certificate of ${host} is not issued for that name (${why}): give --api the name the certificate was issued for`;
  if (code.startsWith('ERR_SSL_') || code === 'EPROTO' || /certificate|SSL|TLS/i.test(f.message)) {
    return `the TLS connection to ${host} failed (${why}): check that --api is the control plane's https:// address (and --ca if it has a private CA)`;
  }
  if (code === 'ECONNREFUSED') return `nothing is listening at ${host} (${why}): check --api and that the control plane is running`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `cannot resolve the host of ${host} (${why}): check the host name in --api and this machine's DNS`;
  if (code === 'ETIMEDOUT' || /timed? ?out/i.test(f.message)) {
    const waited = f.ms ? `within ${f.ms / 1000} s` : `(${why})`;
    return `no answer from ${host} ${waited}: check --api, and that no firewall blocks the way to the control plane`;
  }
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return `no route to ${host} (${why}): check --api and this machine's network`;
  if (code === 'ECONNRESET' || code === 'EPIPE') return `the connection to ${host} was cut (${why}): check --api, and whether a firewall or proxy in between drops it`;
  const handshake = /^Unexpected server response: (\d+)/.exec(f.message);
  if (handshake) return `${host} refused the WebSocket connection with HTTP ${handshake[1]}: check that --api is the control plane's address`;
  return `cannot reach the control plane at ${host} (${why}): check --api and that the control plane is running`;
}

/** A network failure reaching the control plane; `cause` keeps the original error for logs. */
export class ControlPlaneUnreachable extends CliError {
  /** The address that was tried, without credentials. */
  readonly url: string;

  constructor(url: string, err: unknown) {
    super(describeConnectError(err, url));
    this.name = 'ControlPlaneUnreachable';
    this.url = url.replace(/\/\/[^/@\s]*@/, '//');
    this.cause = err;
  }
}
