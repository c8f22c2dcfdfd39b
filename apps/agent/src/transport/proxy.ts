import { getProxyForUrl } from 'proxy-from-env';
import { CliError } from '../errors';

// The variables the agent honours, as curl and most tools do. proxy-from-env also reads ALL_PROXY and
// npm's npm_config_*proxy; those are left out: ALL_PROXY is usually a SOCKS proxy (which the CONNECT
// agent cannot speak), and npm's settings leak in whenever the agent is started through `npm run`.
const PROXY_VARS = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'];
const NO_PROXY_VARS = ['NO_PROXY', 'no_proxy'];

/**
 * The proxy the environment `env` chooses for `url` (HTTPS_PROXY / HTTP_PROXY / NO_PROXY, lower case
 * too), or null. ws: and wss: are looked up as http: and https:, so HTTPS_PROXY covers the WebSocket.
 */
export function proxyFromEnv(url: string, env: NodeJS.ProcessEnv): string | null {
  const lookup = url.replace(/^ws(s?):/i, 'http$1:');
  const chosen: NodeJS.ProcessEnv = {};
  for (const name of PROXY_VARS) {
    const value = env[name]?.trim();
    // A bare host:port means an HTTP proxy (curl's reading); proxy-from-env would take the target's scheme.
    if (value) chosen[name] = value.includes('://') ? value : `http://${value}`;
  }
  for (const name of NO_PROXY_VARS) if (env[name]) chosen[name] = env[name];
  // proxy-from-env 1.1 reads process.env and nothing else. It is pointed at the chosen variables for this
  // one synchronous call (nothing else can run meanwhile), so the caller's env is never written into the
  // real one, and the real one is back before the function returns.
  const real = process.env;
  process.env = chosen;
  try {
    return getProxyForUrl(lookup) || null;
  } finally {
    process.env = real;
  }
}

/** A proxy URL without its credentials, for messages: `http://proxy.example.com:3128`. */
export function redactUrl(value: string): string {
  try {
    const url = new URL(value);
    return `${url.protocol}//${url.host}`;
  } catch {
    return value.replace(/\/\/[^/@\s]*@/g, '//');
  }
}

/** Checks a proxy URL (from --proxy or the environment) before an agent is built on it. */
export function parseProxyUrl(value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new CliError(`the proxy "${redactUrl(value)}" is not a URL: give it as http://[user:password@]host:port in --proxy or HTTPS_PROXY`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CliError(`the proxy ${redactUrl(value)} is a ${url.protocol.slice(0, -1)} proxy, which the agent cannot use: give an http:// or https:// proxy in --proxy or HTTPS_PROXY`);
  }
  return url;
}
