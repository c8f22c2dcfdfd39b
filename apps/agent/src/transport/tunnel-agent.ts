import type { ClientRequest } from 'node:http';
import { isIP, type Socket } from 'node:net';
import tls from 'node:tls';
import { HttpsProxyAgent, type HttpsProxyAgentOptions } from 'https-proxy-agent';

/** The proxy failed before the tunnel to the control plane was open: unreachable, or CONNECT refused. */
export class ProxyTunnelError extends Error {
  constructor(
    /** host:port of the proxy, never its credentials. */
    readonly proxyHost: string,
    /** host:port the tunnel was for. */
    readonly target: string,
    readonly detail: { status?: number; statusText?: string; cause?: unknown },
  ) {
    super(detail.status ? `proxy ${proxyHost} answered CONNECT ${target} with ${detail.status}` : `proxy ${proxyHost} failed before CONNECT ${target}`);
    this.name = 'ProxyTunnelError';
    if (detail.cause !== undefined) this.cause = detail.cause;
  }
}

type ConnectOpts = Parameters<HttpsProxyAgent<string>['connect']>[1];

/**
 * HttpsProxyAgent leaves `host` out of the TLS options inside the tunnel and sets `servername` only for
 * names (SNI forbids IP addresses), so Node would check an IP target's certificate against "localhost".
 */
function checkIpTarget(opts: ConnectOpts): ConnectOpts {
  const host = opts.host;
  if (!opts.secureEndpoint || !host || !isIP(host) || opts.checkServerIdentity) return opts;
  return { ...opts, checkServerIdentity: (_name, cert) => tls.checkServerIdentity(host, cert) };
}

/**
 * An HttpsProxyAgent (CONNECT tunnel) for one target protocol, whose proxy failures are errors. The
 * library itself answers a refused CONNECT by replaying the proxy's reply (a 407, a 403) as though the
 * control plane had sent it, which callers would misread as the control plane's own answer.
 */
export class TunnelAgent extends HttpsProxyAgent<string> {
  private readonly proxyHost: string;

  constructor(
    proxy: URL,
    private readonly secure: boolean,
    opts: HttpsProxyAgentOptions<string>,
  ) {
    super(proxy, opts);
    this.proxyHost = proxy.host;
    // agent-base guesses both from the call stack when the request does not say; this agent knows.
    this.protocol = secure ? 'https:' : 'http:';
  }

  override isSecureEndpoint(): boolean {
    return this.secure;
  }

  override async connect(req: ClientRequest, opts: ConnectOpts): Promise<Socket> {
    const target = `${opts.host}:${opts.port}`;
    let reply: { statusCode: number; statusText: string } | undefined;
    const onConnect = (connect: { statusCode: number; statusText: string }) => (reply = connect);
    req.once('proxyConnect', onConnect);
    let socket: Socket;
    try {
      socket = await super.connect(req, checkIpTarget(opts));
    } catch (cause) {
      throw new ProxyTunnelError(this.proxyHost, target, { cause });
    } finally {
      req.off('proxyConnect', onConnect);
    }
    if (reply && reply.statusCode !== 200) {
      socket.destroy();
      throw new ProxyTunnelError(this.proxyHost, target, { status: reply.statusCode, statusText: reply.statusText });
    }
    return socket;
  }
}
