import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type WebSocket from 'ws';
import { CliError } from '../errors';
import { ConnectTimeout, ControlPlaneUnreachable } from './connect-error';
import { parseProxyUrl, proxyFromEnv } from './proxy';
import { ControlPlaneSocket } from './socket';
import { TunnelAgent } from './tunnel-agent';

export { ControlPlaneUnreachable, describeConnectError } from './connect-error';

export interface NetworkOptions {
  /** PEM text of a private CA to trust besides the system roots. */
  ca?: string;
  /** Explicit proxy URL, http://user:pass@host:port; overrides the environment. */
  proxy?: string;
  /** Where HTTPS_PROXY / HTTP_PROXY / NO_PROXY are read; default process.env. */
  env?: NodeJS.ProcessEnv;
}

export interface RequestInit {
  method: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** For the whole exchange, connecting through to the last byte of the answer; default 15 s. */
  timeoutMs?: number;
}

export interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface WebSocketInit {
  headers?: Record<string, string>;
  maxPayload?: number;
  /** Until the socket is open, through the proxy if there is one; default 15 s. */
  handshakeTimeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 15_000;

function checkCa(pem: string): void {
  try {
    // tls accepts text without any certificate in it silently, and the agent would then trust nothing extra.
    new X509Certificate(pem);
  } catch {
    throw new CliError(`the --ca file is not a PEM certificate: give the CA's certificate (the text starting with -----BEGIN CERTIFICATE-----)`);
  }
}

/** The secure endpoint of a URL's protocol, or an error for anything but http(s) and ws(s). */
function isSecure(url: string): boolean {
  const protocol = /^([a-z]+):/i.exec(url)?.[1]?.toLowerCase();
  if (protocol === 'https' || protocol === 'wss') return true;
  if (protocol === 'http' || protocol === 'ws') return false;
  throw new CliError(`cannot connect to ${url.split('?')[0]}: only http(s):// and ws(s):// addresses are supported`);
}

/**
 * How the agent reaches the control plane: the trusted CAs, the proxy (explicit or from the environment),
 * and keep-alive agents shared by HTTP requests and the WebSocket. Every network failure is a
 * ControlPlaneUnreachable with a one-line message.
 */
export class ControlPlaneNetwork {
  private readonly agents = new Map<string, http.Agent>();
  // Only `ca`: the one TLS setting, in a shape that fits https, HttpsProxyAgent and ws options alike.
  private readonly tls: { ca?: string[] };
  private readonly env: NodeJS.ProcessEnv;

  constructor(private readonly opts: NetworkOptions) {
    if (opts.ca !== undefined) checkCa(opts.ca);
    if (opts.proxy !== undefined) parseProxyUrl(opts.proxy);
    // `ca` replaces Node's trust store, so the system roots are listed too: a private CA is an addition.
    this.tls = opts.ca === undefined ? {} : { ca: [...tls.rootCertificates, opts.ca] };
    this.env = opts.env ?? process.env;
  }

  /** The proxy for `url`: the explicit one, else the environment's choice; null for a direct connection. */
  proxyFor(url: string): string | null {
    return this.opts.proxy ?? proxyFromEnv(url, this.env);
  }

  tlsOptions(): tls.ConnectionOptions {
    return { ...this.tls };
  }

  /** The agent for `url`, one per (proxy, protocol), kept alive between requests. */
  agentFor(url: string): http.Agent {
    const secure = isSecure(url);
    const proxy = this.proxyFor(url);
    const key = `${secure ? 'https' : 'http'} ${proxy ?? 'direct'}`;
    let agent = this.agents.get(key);
    if (!agent) {
      const common = { keepAlive: true, ...this.tls };
      if (proxy) agent = new TunnelAgent(parseProxyUrl(proxy), secure, common);
      else agent = secure ? new https.Agent(common) : new http.Agent({ keepAlive: true });
      this.agents.set(key, agent);
    }
    return agent;
  }

  /** One HTTP exchange; an answer of any status resolves, only a failure to get one rejects. */
  async request(url: string, init: RequestInit): Promise<Response> {
    const secure = isSecure(url);
    const agent = this.agentFor(url);
    const timeoutMs = init.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    return new Promise<Response>((resolve, reject) => {
      const headers: Record<string, string> = { ...init.headers };
      if (init.body !== undefined) headers['content-length'] = String(Buffer.byteLength(init.body));
      // The TLS options go on each request as well: HttpsProxyAgent drops its own options when it
      // upgrades the tunnel to TLS and uses the request's.
      const options: https.RequestOptions = { method: init.method, headers, agent, ...this.tls };
      const req = (secure ? https : http).request(url, options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', fail);
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
        });
      });
      // Settles here rather than through req's 'error': once the answer has begun, destroying the request
      // does not reliably surface an error anywhere.
      const timer = setTimeout(() => {
        fail(new ConnectTimeout(timeoutMs));
        req.destroy();
      }, timeoutMs);
      function fail(err: unknown) {
        clearTimeout(timer);
        reject(new ControlPlaneUnreachable(url, err));
      }
      req.on('error', fail);
      req.end(init.body);
    });
  }

  /** A WebSocket to `url` (ws:// or wss://) over the same CA and proxy as the requests. */
  websocket(url: string, opts: WebSocketInit = {}): WebSocket {
    const agent = this.agentFor(url);
    const handshakeTimeoutMs = opts.handshakeTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    return new ControlPlaneSocket(
      url,
      {
        agent,
        ...this.tls,
        headers: opts.headers,
        // ws reads an explicit undefined as "no limit".
        ...(opts.maxPayload === undefined ? {} : { maxPayload: opts.maxPayload }),
        handshakeTimeout: handshakeTimeoutMs,
        // Compression would only cost CPU on already compact frames, and it has had memory bugs of its own.
        perMessageDeflate: false,
      },
      handshakeTimeoutMs,
    );
  }

  /** Destroys the cached agents and their idle connections. */
  close(): void {
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
  }
}
