import { ConnectTimeout, ControlPlaneUnreachable, describeConnectError } from './connect-error';
import { ProxyTunnelError } from './tunnel-agent';

// The shapes Node gives these failures (code + message), without a network: which message each gets.
// The real failures are driven in apps/agent/test/transport.int-spec.ts.
const nodeError = (code: string, message: string) => Object.assign(new Error(message), { code });
const API = 'https://gateway.example.com:8443/v1/agent';

describe('describeConnectError', () => {
  it.each([
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate', /cannot verify the TLS certificate of gateway.example.com:8443 .*--ca <file>/],
    ['SELF_SIGNED_CERT_IN_CHAIN', 'self-signed certificate in certificate chain', /cannot verify .*--ca/],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate', /cannot verify .*--ca/],
    ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'unable to get local issuer certificate', /cannot verify .*--ca/],
    ['CERT_HAS_EXPIRED', 'certificate has expired', /certificate of gateway.example.com:8443 .*clock/],
    ['ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames", /certificate of gateway.example.com:8443 is not issued for that name/],
    ['ECONNREFUSED', 'connect ECONNREFUSED 10.0.0.5:8443', /nothing is listening at gateway.example.com:8443 .*--api/],
    ['ENOTFOUND', 'getaddrinfo ENOTFOUND gateway.example.com', /cannot resolve .*--api/],
    ['ECONNRESET', 'socket hang up', /connection to gateway.example.com:8443 was cut/],
  ])('%s', (code, message, expected) => {
    const line = describeConnectError(nodeError(code, message), API);
    expect(line).toMatch(expected);
    expect(line).toContain(code);
    expect(line).not.toMatch(/\n/);
  });

  it('says how long it waited', () => {
    expect(describeConnectError(new ConnectTimeout(15_000), API)).toBe('no answer from gateway.example.com:8443 within 15 s: check --api, and that no firewall blocks the way to the control plane');
  });

  it('names the default port', () => {
    expect(describeConnectError(nodeError('ECONNREFUSED', 'refused'), 'wss://gateway.example.com/ws')).toContain('gateway.example.com:443');
  });

  it('names the proxy, never its password', () => {
    const refused = new ProxyTunnelError('proxy.corp:3128', 'gateway.example.com:443', { cause: nodeError('ECONNREFUSED', 'connect ECONNREFUSED http://u:hunter2@proxy.corp:3128') });
    const line = describeConnectError(refused, API);
    expect(line).toMatch(/^cannot use the proxy proxy.corp:3128 for gateway.example.com:443 \(.*ECONNREFUSED.*\): check --proxy or HTTPS_PROXY/);
    expect(line).not.toContain('hunter2');
    const auth = new ProxyTunnelError('proxy.corp:3128', 'gateway.example.com:443', { status: 407, statusText: 'Proxy Authentication Required' });
    expect(describeConnectError(auth, API)).toBe('the proxy proxy.corp:3128 refused the credentials for a tunnel to gateway.example.com:443 (HTTP 407 Proxy Authentication Required): check the user and password in --proxy or HTTPS_PROXY');
    const forbidden = new ProxyTunnelError('proxy.corp:3128', 'gateway.example.com:8443', { status: 403, statusText: 'Forbidden' });
    expect(describeConnectError(forbidden, API)).toMatch(/does not allow a tunnel to gateway.example.com:8443 .*NO_PROXY/);
  });

  it('keeps a multi-line or credential-bearing reason to one clean line', () => {
    const line = describeConnectError(new Error('first\nsecond https://admin:pw@gateway.example.com/x'), 'https://admin:pw@gateway.example.com');
    expect(line).not.toMatch(/\n|pw/);
    expect(new ControlPlaneUnreachable('https://admin:pw@gateway.example.com/x', new Error('x')).url).toBe('https://gateway.example.com/x');
  });
});
