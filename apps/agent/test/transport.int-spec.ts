import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import WebSocket, { WebSocketServer } from 'ws';
import { CliError } from '../src/errors';
import { ControlPlaneNetwork, ControlPlaneUnreachable, parseControlPlaneUrl, wsUrlOf, type NetworkOptions } from '../src/transport';

// Real TLS (a private CA made with openssl), a real HTTPS + WebSocket server and a real proxy (tinyproxy):
// the layer under test is the one that talks to them, so nothing here is mocked.

const dirs: string[] = [];
function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

interface Certs {
  caPem: string;
  key: string;
  cert: string;
}

/** A CA, and a certificate for 127.0.0.1 signed by it. */
function makeCerts(): Certs {
  const dir = tempDir('transport-certs-');
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', file('ca.key'), '-out', file('ca.crt'), '-days', '2', '-subj', '/CN=Transport Test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  openssl('req', ...ec, '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=127.0.0.1');
  writeFileSync(file('server.ext'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n');
  openssl('x509', '-req', '-in', file('server.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial', '-out', file('server.crt'), '-days', '2', '-extfile', file('server.ext'));
  return { caPem: readFileSync(file('ca.crt'), 'utf8'), key: readFileSync(file('server.key'), 'utf8'), cert: readFileSync(file('server.crt'), 'utf8') };
}

interface TestServer {
  port: number;
  url: string;
  close(): Promise<void>;
}

/** HTTPS answering every request with what it got, and a WebSocket echo on any path. */
async function startServer(certs: Certs): Promise<TestServer> {
  const server = https.createServer({ key: certs.key, cert: certs.cert }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ method: req.method, path: req.url, body: Buffer.concat(chunks).toString() }));
    });
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    port,
    url: `https://127.0.0.1:${port}`,
    async close() {
      for (const client of wss.clients) client.terminate();
      wss.close();
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => resolve(true));
    socket.once('error', () => resolve(false));
    socket.once('close', () => socket.destroy());
    socket.once('connect', () => socket.end());
  });
}

async function waitFor(check: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Proxy {
  port: number;
  url: string;
  log(): string;
  /** How many CONNECTs to 127.0.0.1:`port` the proxy has logged. */
  connects(port: number): number;
  stop(): Promise<void>;
}

/** tinyproxy in the foreground on a free port. No ConnectPort line: CONNECT to any port is allowed. */
async function startTinyproxy(extra: string[] = []): Promise<Proxy> {
  const dir = tempDir('transport-tinyproxy-');
  // As root tinyproxy drops to nobody after binding, and must still write its log here.
  chmodSync(dir, 0o777);
  const port = await freePort();
  const logFile = path.join(dir, 'tinyproxy.log');
  const asRoot = process.getuid?.() === 0 ? ['User nobody', 'Group nogroup'] : [];
  const conf = [...asRoot, `Port ${port}`, 'Listen 127.0.0.1', 'Timeout 30', `LogFile "${logFile}"`, 'LogLevel Info', `PidFile "${path.join(dir, 'tinyproxy.pid')}"`, 'MaxClients 50', 'Allow 127.0.0.1', ...extra];
  writeFileSync(path.join(dir, 'tinyproxy.conf'), `${conf.join('\n')}\n`);
  const child: ChildProcess = spawn('tinyproxy', ['-d', '-c', path.join(dir, 'tinyproxy.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  let exited = false;
  child.once('exit', () => (exited = true));
  child.once('error', (e) => (output += `\n${e.message}`));
  await waitFor(async () => {
    if (exited) throw new Error(`tinyproxy exited at start (is it installed? apt-get install -y tinyproxy):\n${output}`);
    return canConnect(port);
  }, `tinyproxy on port ${port}`);
  const log = () => {
    try {
      return readFileSync(logFile, 'utf8');
    } catch {
      return '';
    }
  };
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    log,
    connects: (target) => log().split('\n').filter((l) => l.includes(`: CONNECT 127.0.0.1:${target} `)).length,
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

const networks: ControlPlaneNetwork[] = [];
function network(opts: NetworkOptions): ControlPlaneNetwork {
  const n = new ControlPlaneNetwork(opts);
  networks.push(n);
  return n;
}
afterEach(() => networks.splice(0).forEach((n) => n.close()));

async function echo(ws: WebSocket): Promise<string> {
  await once(ws, 'open');
  ws.send('hello through');
  const [data] = (await once(ws, 'message')) as [Buffer];
  ws.close();
  return data.toString();
}

async function failure(ws: WebSocket): Promise<Error> {
  const opened = new Promise<never>((_, reject) => ws.once('open', () => reject(new Error('the WebSocket opened'))));
  return Promise.race([once(ws, 'error').then(([err]) => err as Error), opened]);
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => {
      throw new Error('the request succeeded');
    },
    (err: Error) => err,
  );
}

function expectOneLine(err: Error, ...parts: string[]) {
  expect(err).toBeInstanceOf(ControlPlaneUnreachable);
  expect(err).toBeInstanceOf(CliError);
  expect(err.message).not.toMatch(/[\r\n]/);
  for (const part of parts) expect(err.message).toContain(part);
}

let certs: Certs;
let server: TestServer;

beforeAll(async () => {
  certs = makeCerts();
  server = await startServer(certs);
});

afterAll(async () => {
  await server?.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('TLS with a private CA', () => {
  it('trusts the server with the CA given', async () => {
    const res = await network({ ca: certs.caPem, env: {} }).request(`${server.url}/v1/ping?x=1`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'ping' });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
    expect(JSON.parse(res.body.toString())).toEqual({ method: 'POST', path: '/v1/ping?x=1', body: 'ping' });
  });

  it('opens a WebSocket with the CA given', async () => {
    const ws = network({ ca: certs.caPem, env: {} }).websocket(wsUrlOf(server.url, '/v1/agent/ws'));
    expect(ws).toBeInstanceOf(WebSocket);
    expect(await echo(ws)).toBe('hello through');
  });

  it('refuses the server without the CA, saying to pass --ca', async () => {
    const err = await rejection(network({ env: {} }).request(`${server.url}/v1/ping`, { method: 'GET' }));
    expectOneLine(err, `127.0.0.1:${server.port}`, 'certificate', '--ca');
    expect(err.message).toBe(`cannot verify the TLS certificate of 127.0.0.1:${server.port} (unable to verify the first certificate: UNABLE_TO_VERIFY_LEAF_SIGNATURE): pass --ca <file> with the CA that signed it`);
  });

  it('refuses the WebSocket without the CA, saying to pass --ca', async () => {
    const err = await failure(network({ env: {} }).websocket(wsUrlOf(server.url, '/v1/agent/ws')));
    expectOneLine(err, `127.0.0.1:${server.port}`, 'certificate', '--ca', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  });

  it('names the host and --api when nothing listens there', async () => {
    const port = await freePort();
    const err = await rejection(network({ env: {} }).request(`https://127.0.0.1:${port}/v1/ping`, { method: 'GET' }));
    expectOneLine(err, `nothing is listening at 127.0.0.1:${port}`, 'ECONNREFUSED', '--api');
    const wsErr = await failure(network({ env: {} }).websocket(`wss://127.0.0.1:${port}/v1/agent/ws`));
    expectOneLine(wsErr, `nothing is listening at 127.0.0.1:${port}`, 'ECONNREFUSED', '--api');
  });

  it('times out a server that accepts but never answers', async () => {
    const silent = net.createServer(() => undefined).listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const { port } = silent.address() as AddressInfo;
    try {
      const err = await rejection(network({ env: {} }).request(`https://127.0.0.1:${port}/`, { method: 'GET', timeoutMs: 300 }));
      expectOneLine(err, `127.0.0.1:${port}`, '0.3 s', '--api');
      const wsErr = await failure(network({ env: {} }).websocket(`wss://127.0.0.1:${port}/`, { handshakeTimeoutMs: 300 }));
      expectOneLine(wsErr, `127.0.0.1:${port}`, '--api');
    } finally {
      silent.close();
    }
  });

  it('rejects a --ca that is not a certificate', () => {
    expect(() => new ControlPlaneNetwork({ ca: 'not a pem' })).toThrow(/--ca .*BEGIN CERTIFICATE/);
  });
});

describe('through an HTTP proxy from the environment', () => {
  let proxy: Proxy;
  beforeAll(async () => {
    proxy = await startTinyproxy();
  });
  afterAll(() => proxy?.stop());

  it('tunnels a request through HTTPS_PROXY, without touching process.env', async () => {
    const before = { ...process.env };
    const n = network({ ca: certs.caPem, env: { HTTPS_PROXY: proxy.url } });
    expect(n.proxyFor(server.url)).toBe(proxy.url);
    const connects = proxy.connects(server.port);
    const res = await n.request(`${server.url}/v1/ping`, { method: 'GET' });
    expect(res.status).toBe(200);
    await waitFor(() => proxy.connects(server.port) === connects + 1, 'a CONNECT in the proxy log', 3000);
    expect(process.env).toEqual(before);
  });

  it('tunnels the WebSocket through https_proxy (lower case)', async () => {
    const n = network({ ca: certs.caPem, env: { https_proxy: proxy.url } });
    const connects = proxy.connects(server.port);
    expect(await echo(n.websocket(wsUrlOf(server.url, '/v1/agent/ws')))).toBe('hello through');
    await waitFor(() => proxy.connects(server.port) === connects + 1, 'a CONNECT in the proxy log', 3000);
  });

  it('still checks the certificate inside the tunnel', async () => {
    const err = await rejection(network({ env: { HTTPS_PROXY: proxy.url } }).request(`${server.url}/v1/ping`, { method: 'GET' }));
    expectOneLine(err, `cannot verify the TLS certificate of 127.0.0.1:${server.port}`, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', '--ca');
  });

  it('goes direct when NO_PROXY covers the control plane', async () => {
    const n = network({ ca: certs.caPem, env: { HTTPS_PROXY: proxy.url, NO_PROXY: 'localhost,127.0.0.1' } });
    expect(n.proxyFor(server.url)).toBeNull();
    const log = proxy.log();
    expect((await n.request(`${server.url}/v1/ping`, { method: 'GET' })).status).toBe(200);
    expect(await echo(n.websocket(wsUrlOf(server.url, '/v1/agent/ws')))).toBe('hello through');
    // A CONNECT would have been logged before the tunnel carried anything; give a stray one time anyway.
    await new Promise((r) => setTimeout(r, 300));
    expect(proxy.log()).toBe(log);
  });

  it('names the proxy when it cannot be reached', async () => {
    const port = await freePort();
    const n = network({ ca: certs.caPem, env: { HTTPS_PROXY: `http://someone:hunter2@127.0.0.1:${port}` } });
    const err = await rejection(n.request(`${server.url}/v1/ping`, { method: 'GET' }));
    expectOneLine(err, `proxy 127.0.0.1:${port}`, 'ECONNREFUSED', 'HTTPS_PROXY');
    expect(err.message).not.toContain('hunter2');
    const wsErr = await failure(n.websocket(wsUrlOf(server.url, '/v1/agent/ws')));
    expectOneLine(wsErr, `proxy 127.0.0.1:${port}`, 'ECONNREFUSED');
    expect(wsErr.message).not.toContain('hunter2');
  });
});

describe('through an HTTP proxy with basic authentication', () => {
  let proxy: Proxy;
  beforeAll(async () => {
    proxy = await startTinyproxy(['BasicAuth user secret']);
  });
  afterAll(() => proxy?.stop());

  const withPassword = (password: string) => `http://user:${password}@127.0.0.1:${proxy.port}`;

  it('uses the explicit proxy and its credentials over the environment', async () => {
    const unused = await freePort();
    // Two networks: within one, the WebSocket may reuse the request's kept-alive tunnel (one CONNECT).
    const opts = { ca: certs.caPem, proxy: withPassword('secret'), env: { HTTPS_PROXY: `http://127.0.0.1:${unused}`, NO_PROXY: '127.0.0.1' } };
    const n = network(opts);
    expect(n.proxyFor(server.url)).toBe(withPassword('secret'));
    const connects = proxy.connects(server.port);
    expect((await n.request(`${server.url}/v1/ping`, { method: 'GET' })).status).toBe(200);
    await waitFor(() => proxy.connects(server.port) === connects + 1, 'a CONNECT in the proxy log', 3000);
    expect(await echo(network(opts).websocket(wsUrlOf(server.url, '/v1/agent/ws')))).toBe('hello through');
    await waitFor(() => proxy.connects(server.port) === connects + 2, 'a second CONNECT in the proxy log', 3000);
  });

  it('fails on a wrong password with one line that does not show it', async () => {
    const n = network({ ca: certs.caPem, proxy: withPassword('wrongsecret') });
    const err = await rejection(n.request(`${server.url}/v1/ping`, { method: 'GET' }));
    expectOneLine(err, `proxy 127.0.0.1:${proxy.port}`, `127.0.0.1:${server.port}`, 'password');
    expect(err.message).not.toMatch(/secret/i);
    const wsErr = await failure(n.websocket(wsUrlOf(server.url, '/v1/agent/ws')));
    expectOneLine(wsErr, `proxy 127.0.0.1:${proxy.port}`, 'password');
    expect(wsErr.message).not.toMatch(/secret/i);
  });

  it('fails without credentials, naming the proxy', async () => {
    const err = await rejection(network({ ca: certs.caPem, proxy: proxy.url }).request(`${server.url}/v1/ping`, { method: 'GET' }));
    expectOneLine(err, `proxy 127.0.0.1:${proxy.port}`, '407');
  });
});

describe('through an HTTP proxy that restricts CONNECT ports', () => {
  let proxy: Proxy;
  beforeAll(async () => {
    // With a ConnectPort line tinyproxy tunnels only to the ports listed; the proxies above have none.
    proxy = await startTinyproxy(['ConnectPort 443']);
  });
  afterAll(() => proxy?.stop());

  it('says the proxy does not allow the tunnel', async () => {
    const n = network({ ca: certs.caPem, proxy: proxy.url });
    const err = await rejection(n.request(`${server.url}/v1/ping`, { method: 'GET' }));
    expectOneLine(err, `the proxy 127.0.0.1:${proxy.port} does not allow a tunnel to 127.0.0.1:${server.port}`, '403');
    const wsErr = await failure(n.websocket(wsUrlOf(server.url, '/v1/agent/ws')));
    expectOneLine(wsErr, `the proxy 127.0.0.1:${proxy.port} does not allow a tunnel`);
  });
});

describe('parseControlPlaneUrl', () => {
  it('refuses plain HTTP to another machine unless --insecure-http', () => {
    expect(() => parseControlPlaneUrl('http://10.1.2.3:3000')).toThrow(CliError);
    expect(() => parseControlPlaneUrl('http://10.1.2.3:3000')).toThrow('--api http://10.1.2.3:3000 is not encrypted: use https://, or pass --insecure-http to allow plain HTTP to a non-loopback address');
    expect(() => parseControlPlaneUrl('http://gateway.example.com/')).toThrow(/--insecure-http/);
    expect(parseControlPlaneUrl('http://10.1.2.3:3000/', { insecureHttp: true })).toBe('http://10.1.2.3:3000');
  });

  it('accepts plain HTTP to loopback and HTTPS to anywhere', () => {
    expect(parseControlPlaneUrl('http://127.0.0.1:3000/')).toBe('http://127.0.0.1:3000');
    expect(parseControlPlaneUrl('http://127.8.9.10')).toBe('http://127.8.9.10');
    expect(parseControlPlaneUrl('http://localhost:3000')).toBe('http://localhost:3000');
    expect(parseControlPlaneUrl('http://[::1]:3000')).toBe('http://[::1]:3000');
    expect(parseControlPlaneUrl('https://10.1.2.3:8443/')).toBe('https://10.1.2.3:8443');
    expect(parseControlPlaneUrl('https://gateway.example.com/base/')).toBe('https://gateway.example.com/base');
  });

  it('refuses what is not an http(s) URL, in one line', () => {
    expect(() => parseControlPlaneUrl('gateway:3000x')).toThrow(/^--api must be an http:\/\/ or https:\/\/ URL/);
    expect(() => parseControlPlaneUrl('not a url')).toThrow(/^--api "not a url" is not a URL: /);
    expect(() => parseControlPlaneUrl('ftp://gateway.example.com')).toThrow(/not ftp:\/\//);
    expect(() => parseControlPlaneUrl('https://admin:pw@gateway.example.com')).toThrow(/must not contain a user name or password/);
  });

  it('derives WebSocket addresses', () => {
    expect(wsUrlOf('https://gateway.example.com', '/v1/agent/ws')).toBe('wss://gateway.example.com/v1/agent/ws');
    expect(wsUrlOf('http://127.0.0.1:3000', 'v1/agent/ws')).toBe('ws://127.0.0.1:3000/v1/agent/ws');
    expect(wsUrlOf('https://gateway.example.com/base', '/ws')).toBe('wss://gateway.example.com/base/ws');
  });
});
