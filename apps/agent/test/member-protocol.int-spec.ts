import { readFileSync } from 'node:fs';
import { WebSocket } from 'ws';
import { CLOSE, MAX_FRAME_BYTES, MEMBER_CONNECT_PATH, memberConnectMessage, PROTOCOL_VERSION, VERSION, type MemberMessage, type ServerMessage } from '@gateway/domain';
import { signMessage } from '@gateway/domain/crypto';
import { AgentConfig } from '../src/agent-config';
import {
  type AgentProcess,
  type ApiProcess,
  createSampleSources,
  eventually,
  firstAdminToken,
  installMember,
  json,
  startAgent,
  startApiProcess,
} from '@gateway/testing';

/**
 * The member endpoint against what a hostile or broken member sends: every bad frame closes that one connection
 * with a clear reason, nothing crashes, and a member of one cluster can neither pose as another cluster's member,
 * nor receive, see or report on its work. Real API, real agents, a raw WebSocket client as the hostile member.
 */
let api: ApiProcess;
let token: string;
let sources: Awaited<ReturnType<typeof createSampleSources>>;
const agents: AgentProcess[] = [];
const cfg: Record<'a1' | 'a2' | 'b1', AgentConfig & { clusterId: string }> = {} as never;
let dsB: string;
let dsA: string;

const readConfig = (file: string) => AgentConfig.parse(JSON.parse(readFileSync(file, 'utf8')));
const wsUrl = () => `${api.url.replace(/^http/, 'ws')}${MEMBER_CONNECT_PATH}`;

/** A raw connection: everything it receives, and how it closed. */
function open() {
  const ws = new WebSocket(wsUrl(), { perMessageDeflate: false });
  const received: ServerMessage[] = [];
  const raw: string[] = [];
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  ws.on('message', (d) => {
    raw.push(d.toString());
    received.push(JSON.parse(d.toString()) as ServerMessage);
  });
  ws.on('error', () => undefined);
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const send = (m: MemberMessage | string) => ws.send(typeof m === 'string' ? m : JSON.stringify(m));
  const next = async (t: ServerMessage['t'], timeoutMs = 5_000) => eventually(async () => {
    const m = received.find((x) => x.t === t);
    if (!m) throw new Error(`no ${t} yet; got ${received.map((x) => x.t).join(', ')}`);
    return m;
  }, timeoutMs, 10);
  return { ws, received, raw, closed, opened, send, next };
}

/** Connects and authenticates as a member with its own key (or with `signWith`'s). */
async function connectAs(memberId: string, privateKey: string) {
  const c = open();
  await c.opened;
  c.send({ t: 'hello', memberId, protocol: { min: 1, max: PROTOCOL_VERSION }, agentVersion: 'test' });
  const challenge = (await c.next('challenge')) as Extract<ServerMessage, { t: 'challenge' }>;
  const signature = signMessage(privateKey, memberConnectMessage(memberId, challenge.nonce));
  c.send({ t: 'auth', signature });
  return { ...c, challenge, signature };
}

const audit = async (clusterId: string) => (await json<{ action: string; actor: string; detail: { reason?: string } }[]>(`${api.url}/api/clusters/${clusterId}/audit`, 'GET', undefined, token)).body;

beforeAll(async () => {
  [api, sources] = await Promise.all([startApiProcess({ HEARTBEAT_MS: '200', PRESENCE_TTL_MS: '800' }), createSampleSources()]);
  token = await firstAdminToken(api);
  const a1 = await installMember(api, token, { name: 'Alpha', member: 'a1', recoveryKey: 'alpha-recovery-key' });
  const a2 = await installMember(api, token, { join: 'Alpha', member: 'a2', recoveryKey: 'alpha-recovery-key' });
  const b1 = await installMember(api, token, { name: 'Bravo', member: 'b1', recoveryKey: 'bravo-recovery-key' });
  cfg.a1 = { ...readConfig(a1.config), clusterId: a1.clusterId };
  cfg.a2 = { ...readConfig(a2.config), clusterId: a2.clusterId };
  cfg.b1 = { ...readConfig(b1.config), clusterId: b1.clusterId };
  // a1 serves Alpha, b1 serves Bravo; a2 (no agent) is the hostile member of Alpha.
  agents.push(await startAgent(a1.config), await startAgent(b1.config));
  const create = async (clusterId: string, name: string) => {
    const r = await json<{ id: string }>(`${api.url}/api/clusters/${clusterId}/datasources`, 'POST', { name, type: 'sqlite', connection: { path: sources.sqlitePath } }, token);
    if (r.status !== 201) throw new Error(JSON.stringify(r.body));
    return r.body.id;
  };
  dsA = await create(a1.clusterId, 'items-a');
  dsB = await create(b1.clusterId, 'items-b');
}, 180_000);

afterAll(async () => {
  await Promise.all(agents.map((a) => a.kill('SIGKILL')));
  await api?.stop();
  await sources?.drop();
}, 60_000);

const query = (id: string) => json<{ rows: unknown[][]; servedBy: { memberName: string } }>(`${api.url}/api/datasources/${id}/query`, 'POST', { sql: 'SELECT count(*) AS n FROM items' }, token);

describe('bad protocol input closes that connection with a clear reason, and nothing crashes', () => {
  it('closes on a frame that is not JSON', async () => {
    const c = open();
    await c.opened;
    c.send('{not json');
    expect(await c.closed).toEqual({ code: CLOSE.malformed, reason: 'malformed frame: not JSON' });
  });

  it('closes on a frame that is not a message of the protocol, naming the field', async () => {
    const c = open();
    await c.opened;
    c.send(JSON.stringify({ t: 'hello', memberId: cfg.a2.memberId, protocol: { min: 1 }, agentVersion: 'x' }));
    const closed = await c.closed;
    expect(closed.code).toBe(CLOSE.malformed);
    expect(closed.reason).toMatch(/^invalid protocol\.max: /);
  });

  it('closes on an oversized frame without reading it whole', async () => {
    const c = open();
    await c.opened;
    c.send('x'.repeat(MAX_FRAME_BYTES + 1024));
    expect((await c.closed).code).toBe(1009);
  });

  it('refuses a member that is not registered, saying it was removed', async () => {
    const c = open();
    await c.opened;
    c.send({ t: 'hello', memberId: '00000000-0000-4000-8000-000000000000', protocol: { min: 1, max: PROTOCOL_VERSION }, agentVersion: 'x' });
    const closed = await c.closed;
    expect(closed.code).toBe(CLOSE.removed);
    expect(closed.reason).toBe('member 00000000-0000-4000-8000-000000000000 is not registered (removed, or never joined): install again');
  });

  it('refuses a protocol no side shares, naming both ranges', async () => {
    const c = open();
    await c.opened;
    c.send({ t: 'hello', memberId: cfg.a2.memberId, protocol: { min: PROTOCOL_VERSION + 1, max: PROTOCOL_VERSION + 3 }, agentVersion: '9.0.0' });
    const closed = await c.closed;
    expect(closed.code).toBe(CLOSE.version);
    expect(closed.reason).toBe(`agent 9.0.0 speaks protocol ${PROTOCOL_VERSION + 1}-${PROTOCOL_VERSION + 3}, this control plane 1-${PROTOCOL_VERSION} (${VERSION}): upgrade the control plane`);
  });

  it('refuses a member too old for the control plane, saying which version to install', async () => {
    const c = open();
    await c.opened;
    c.send({ t: 'hello', memberId: cfg.a2.memberId, protocol: { min: 0, max: 0 }, agentVersion: '0.0.1' });
    const closed = await c.closed;
    expect(closed.code).toBe(CLOSE.version);
    expect(closed.reason).toBe(`agent 0.0.1 speaks protocol 0-0, this control plane 1-${PROTOCOL_VERSION} (${VERSION}): install gateway-agent@${VERSION}`);
    expect(Buffer.byteLength(closed.reason)).toBeLessThanOrEqual(123);
  });

  it('refuses a wrong signature, and audits it', async () => {
    const c = open();
    await c.opened;
    c.send({ t: 'hello', memberId: cfg.a2.memberId, protocol: { min: 1, max: PROTOCOL_VERSION }, agentVersion: 'x' });
    await c.next('challenge');
    c.send({ t: 'auth', signature: Buffer.alloc(64, 7).toString('base64') });
    const closed = await c.closed;
    expect(closed.code).toBe(CLOSE.unauthorized);
    expect(closed.reason).toMatch(/the signature does not match the member key/);
    await eventually(async () => expect((await audit(cfg.a2.clusterId)).some((e) => e.action === 'member.connect.refused' && e.actor === 'member:a2')).toBe(true));
  });

  it('refuses a replayed challenge: a signature of one connection is worthless on the next', async () => {
    const first = await connectAs(cfg.a2.memberId, cfg.a2.memberPrivateKey);
    await first.next('welcome');
    first.ws.close();
    await first.closed;
    const second = open();
    await second.opened;
    second.send({ t: 'hello', memberId: cfg.a2.memberId, protocol: { min: 1, max: PROTOCOL_VERSION }, agentVersion: 'x' });
    const challenge = (await second.next('challenge')) as Extract<ServerMessage, { t: 'challenge' }>;
    expect(challenge.nonce).not.toBe(first.challenge.nonce);
    second.send({ t: 'auth', signature: first.signature });
    expect((await second.closed).code).toBe(CLOSE.unauthorized);
  });

  it('closes a connection that says hello twice', async () => {
    const c = await connectAs(cfg.a2.memberId, cfg.a2.memberPrivateKey);
    await c.next('welcome');
    c.send({ t: 'hello', memberId: cfg.a2.memberId, protocol: { min: 1, max: PROTOCOL_VERSION }, agentVersion: 'x' });
    expect(await c.closed).toEqual({ code: CLOSE.malformed, reason: 'hello again on an authenticated connection' });
  });

  it('after all of it, the API and the real members still serve', async () => {
    expect((await json(`${api.url}/api/health`, 'GET')).status).toBe(200);
    expect((await query(dsA)).body.servedBy.memberName).toBe('a1');
    expect((await query(dsB)).body.servedBy.memberName).toBe('b1');
    expect(api.child.exitCode).toBeNull();
  });
});

describe('tenant isolation over the protocol', () => {
  it("refuses a member of Alpha posing as Bravo's member with its own key, and audits it in Bravo", async () => {
    const c = await connectAs(cfg.b1.memberId, cfg.a2.memberPrivateKey);
    const closed = await c.closed;
    expect(closed.code).toBe(CLOSE.unauthorized);
    expect(c.received.map((m) => m.t)).toEqual(['challenge']);
    await eventually(async () => expect((await audit(cfg.b1.clusterId)).some((e) => e.action === 'member.connect.refused' && e.actor === 'member:b1')).toBe(true));
    // b1's own connection was not replaced by the attempt.
    expect((await query(dsB)).body.servedBy.memberName).toBe('b1');
  });

  it("a member of Alpha receives none of Bravo's work, results or events while Bravo works", async () => {
    const c = await connectAs(cfg.a2.memberId, cfg.a2.memberPrivateKey);
    const welcome = (await c.next('welcome')) as Extract<ServerMessage, { t: 'welcome' }>;
    expect(welcome.settings.cluster.id).toBe(cfg.a2.clusterId);
    for (let i = 0; i < 20; i++) expect((await query(dsB)).status).toBe(200);
    // Alpha's work goes to its primary a1; a2 got nothing but its own cluster's settings.
    expect(c.received.map((m) => m.t).filter((t) => t !== 'settings' && t !== 'token')).toEqual(['challenge', 'welcome']);
    expect(c.raw.join('\n')).not.toContain(cfg.b1.clusterId);
    expect(c.raw.join('\n')).not.toContain(dsB);
    c.ws.close();
    await c.closed;
  });

  it('closes and audits a member that sends a result for work it was not given', async () => {
    const c = await connectAs(cfg.a2.memberId, cfg.a2.memberPrivateKey);
    await c.next('welcome');
    c.send({ t: 'result', id: 'someone-elses-request-1', columns: [{ name: 'n' }], rows: [[666]], truncated: false, executeMs: 1 });
    const closed = await c.closed;
    expect(closed.code).toBe(CLOSE.refused);
    expect(closed.reason).toBe("a result frame for live work someone-elses-request-1, which is not this member's");
    await eventually(async () => expect((await audit(cfg.a2.clusterId)).some((e) => e.action === 'member.message.refused' && /not this member's/.test(e.detail?.reason ?? ''))).toBe(true));
    expect((await query(dsA)).body.rows).toEqual([[100]]);
  });

  it("refuses and audits a member's report on another cluster's refresh", async () => {
    // A refresh of Bravo...
    const d = await json<{ id: string }>(`${api.url}/api/datasets`, 'POST', { name: 'bravo items', dataSourceId: dsB, query: 'SELECT * FROM items' }, token);
    expect(d.status).toBe(201);
    const r = await json<{ id: string }>(`${api.url}/api/datasets/${d.body.id}/refreshes`, 'POST', undefined, token);
    expect(r.status).toBe(201);
    // ...reported on by Alpha's member, with the HTTPS token its own connection gave it.
    const c = await connectAs(cfg.a2.memberId, cfg.a2.memberPrivateKey);
    const welcome = (await c.next('welcome')) as Extract<ServerMessage, { t: 'welcome' }>;
    for (const action of ['start', 'complete', 'fail', 'cancelled']) {
      const body = action === 'start' ? {} : action === 'complete' ? { attempt: 1, columns: [] } : action === 'fail' ? { attempt: 1, error: 'x', permanent: true } : { attempt: 1 };
      const res = await json<{ message: string }>(`${api.url}/api/agents/refreshes/${r.body.id}/${action}`, 'POST', body, welcome.token);
      expect([action, res.status]).toEqual([action, 404]);
    }
    const chunk = await fetch(`${api.url}/api/agents/refreshes/${r.body.id}/chunks?attempt=1&seq=0&rows=1&format=ndjson&encoding=gzip`, {
      method: 'POST',
      headers: { authorization: `Bearer ${welcome.token}`, 'content-type': 'application/octet-stream' },
      body: new Uint8Array([1, 2, 3]),
    });
    expect(chunk.status).toBe(404);
    await eventually(async () => expect((await audit(cfg.a2.clusterId)).filter((e) => e.action === 'member.refresh.refused').length).toBeGreaterThanOrEqual(5));
    // Bravo's refresh is untouched by all of it: its own member runs it to the end.
    await eventually(async () => expect((await json<{ status: string }>(`${api.url}/api/refreshes/${r.body.id}`, 'GET', undefined, token)).body.status).toBe('succeeded'), 15_000);
    c.ws.close();
    await c.closed;
  });
});

describe('no datastore credential reaches a member', () => {
  it('no message or HTTPS answer a member gets names Redis, its address or the key prefix', async () => {
    const c = await connectAs(cfg.a2.memberId, cfg.a2.memberPrivateKey);
    const welcome = (await c.next('welcome')) as Extract<ServerMessage, { t: 'welcome' }>;
    // A settings push too: change the cluster.
    expect((await json(`${api.url}/api/clusters/${cfg.a2.clusterId}`, 'PATCH', { contact: 'ops@example.com' }, token)).status).toBe(200);
    await c.next('settings');
    const http = await Promise.all(['/api/agents/config', '/api/agents/me'].map(async (p) => JSON.stringify((await json(`${api.url}${p}`, 'GET', undefined, welcome.token)).body)));
    const everything = [...c.raw, ...http].join('\n');
    expect(http[0]).toContain(cfg.a2.clusterId);
    for (const needle of ['redis', '6379', api.redisPrefix, 'REDIS']) expect(everything.toLowerCase()).not.toContain(needle.toLowerCase());
    c.ws.close();
    await c.closed;
  });
});
