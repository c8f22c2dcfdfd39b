import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { Client } from 'pg';
import {
  type AgentProcess,
  type ApiProcess,
  createOnPremHost,
  createSampleSources,
  eventually,
  firstAdminToken,
  freePort,
  installMember,
  json,
  makePrivatePki,
  type OnPremHost,
  sleep,
  startAgent,
  startApiProcess,
  tempDir,
} from '@gateway/testing';

/**
 * The PostgreSQL front door with clients nobody here wrote: Debian's psql and pgbench, and node-postgres, against
 * a real API and two real agents, and a PostgreSQL data source (plus MariaDB and SQLite ones for their type mapping).
 * The database a client names is `<cluster>/<data source>`; it signs in with an account's email and password or token.
 */

const exec = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const ADMIN = 'admin@example.com';
const PASSWORD = 'correct horse battery staple';
const SERVER = process.env.TEST_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432';

let api: ApiProcess;
/** A second instance of the same deployment, serving TLS (its front door answers SSLRequest with its certificate). */
let tlsApi: ApiProcess;
let token: string;
let sources: Awaited<ReturnType<typeof createSampleSources>>;
let alpha: AgentProcess;
let bravo: AgentProcess;
let pki: ReturnType<typeof makePrivatePki>;
let host: OnPremHost | undefined;

const psql = (args: string[], env: Record<string, string> = {}, password = PASSWORD) =>
  exec('psql', ['-X', '-v', 'ON_ERROR_STOP=1', '-At', ...args], { env: { ...process.env, PGPASSWORD: password, PGSSLMODE: 'disable', PGCONNECT_TIMEOUT: '10', ...env }, maxBuffer: 64 * 1024 * 1024 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
const dsn = (database: string, user = ADMIN, extra = '') => `host=127.0.0.1 port=${api.pgPort} user=${user} dbname=${database} ${extra}`;
const client = (database = 'Door/pg', password = PASSWORD, user = ADMIN) => new Client({ host: '127.0.0.1', port: api.pgPort, user, password, database });

beforeAll(async () => {
  pki = makePrivatePki(tempDir('pg-door-pki-'));
  [api, sources] = await Promise.all([startApiProcess({ PG_PORT: String(await freePort()) }), createSampleSources()]);
  tlsApi = await startApiProcess({ PG_PORT: String(await freePort()), API_HOST: isRoot ? '0.0.0.0' : '127.0.0.1', TLS_CERT_FILE: pki.certFile, TLS_KEY_FILE: pki.keyFile }, api);
  token = await firstAdminToken(api, ADMIN, PASSWORD);
  const a = await installMember(api, token, { name: 'Door', member: 'alpha', recoveryKey: 'door-recovery' });
  const b = await installMember(api, token, { join: 'Door', member: 'bravo', recoveryKey: 'door-recovery' });
  [alpha, bravo] = await Promise.all([startAgent(a.config), startAgent(b.config)]);
  const big = new Client({ connectionString: `${SERVER}/${sources.name}` });
  await big.connect();
  await big.query(`CREATE TABLE big (id int PRIMARY KEY, label text, amount numeric(12,2), at timestamptz, flag bool, payload bytea, doc json, missing text);
    INSERT INTO big SELECT g, 'row ' || g, g * 1.25, timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second', g % 2 = 0, decode(lpad(to_hex(g), 8, '0'), 'hex'), json_build_object('n', g), NULL FROM generate_series(1, 100000) g`);
  await big.end();
  const add = async (name: string, type: string, connection: unknown, credentials?: unknown) => {
    const r = await json<{ id: string }>(`${api.url}/api/clusters/Door/datasources`, 'POST', { name, type, connection, ...(credentials ? { credentials } : {}) }, token);
    if (r.status !== 201) throw new Error(`data source ${name}: ${JSON.stringify(r.body)}`);
  };
  await add('pg', 'postgres', { host: '127.0.0.1', port: 5432, database: sources.name }, { username: 'postgres', password: '' });
  await add('maria', 'mysql', { host: sources.mysql.host, port: sources.mysql.port, database: sources.name }, { username: 'root', password: '' });
  await add('lite', 'sqlite', { path: sources.sqlitePath });
}, 180_000);

afterAll(async () => {
  await Promise.all([alpha?.kill('SIGTERM'), bravo?.kill('SIGTERM')]);
  host?.remove();
  await tlsApi?.stop();
  await api?.stop();
  await sources?.drop();
});

describe('psql', () => {
  test('a SELECT of a 100,000-row table returns every row, NULLs and types as PostgreSQL prints them', async () => {
    const r = await psql(['-F', '|', dsn('Door/pg'), '-c', 'SELECT * FROM big ORDER BY id']);
    expect(r.stderr).toBe('');
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(100_000);
    expect(lines[0]).toBe('1|row 1|1.25|2026-01-01 00:00:01+00|f|\\x00000001|{"n" : 1}|');
    expect(lines[99_999]).toBe('100000|row 100000|125000.00|2026-01-02 03:46:40+00|t|\\x000186a0|{"n" : 100000}|');
  });

  test('\\dt and \\d list the source tables and columns', async () => {
    const dt = await psql([dsn('Door/pg'), '-c', '\\dt']);
    expect(dt.stdout).toMatch(/public\|big\|table\|postgres/);
    expect(dt.stdout).toMatch(/public\|items\|table\|postgres/);
    const d = await psql([dsn('Door/pg'), '-c', '\\d big']);
    expect(d.code).toBe(0);
    expect(d.stdout).toMatch(/^id\|integer\|\|not null\|/m);
    expect(d.stdout).toMatch(/^amount\|numeric\(12,2\)\|/m);
    const di = await psql([dsn('Door/pg'), '-c', '\\di']);
    expect(di.stdout).toMatch(/public\|big_pkey\|index\|postgres\|big/);
  });

  test('a write fails with 25006, a syntax error with 42601 and the source message, a wrong password with 28P01', async () => {
    const v = { PGOPTIONS: '', PSQL_EDITOR: 'true' };
    const write = await psql([dsn('Door/pg'), '-v', 'VERBOSITY=verbose', '-c', "UPDATE items SET name = 'x' WHERE id = 1"], v);
    expect(write.code).not.toBe(0);
    expect(write.stderr).toMatch(/ERROR: {2}25006: .*read-only/);
    const syntax = await psql([dsn('Door/pg'), '-v', 'VERBOSITY=verbose', '-c', 'SELEC 1']);
    expect(syntax.stderr).toMatch(/ERROR: {2}42601: syntax error at or near "SELEC"/);
    const wrong = await psql([dsn('Door/pg'), '-v', 'VERBOSITY=verbose', '-c', 'SELECT 1'], {}, 'not the password');
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/FATAL: {2}(28P01: )?password authentication failed for user "admin@example.com"/);
    const a = new Client({ connectionString: `${SERVER}/${sources.name}` });
    await a.connect();
    expect((await a.query('SELECT name FROM items WHERE id = 1')).rows[0].name).toBe('item 1');
    await a.end();
  });

  test('SET, SHOW, BEGIN/COMMIT and who served: SHOW gateway.served_by and the trace NOTICE', async () => {
    const r = await psql([dsn('Door/pg'), '-c', 'BEGIN', '-c', 'SET statement_timeout = 5000', '-c', 'SHOW statement_timeout', '-c', 'SET gateway.trace = on', '-c', 'SELECT count(*) FROM items', '-c', 'SHOW gateway.served_by', '-c', 'COMMIT']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(['BEGIN', 'SET', '5000', 'SET', '100', 'alpha', 'COMMIT']);
    expect(r.stderr).toMatch(/NOTICE: {2}served by alpha \(primary\) in [\d.]+ ms/);
  });
});

describe('node-postgres (extended protocol)', () => {
  test('parameters of every common type round-trip, and NULL; an empty result still describes its columns', async () => {
    const c = client();
    await c.connect();
    try {
      const r = await c.query('SELECT $1::text AS t, $2::int AS i, $3::numeric AS n, $4::timestamptz AS ts, $5::bytea AS b, $6::json AS j, $7::text AS nothing', [
        'héllo',
        42,
        '12345678901234567890.5',
        new Date('2026-05-01T12:34:56.789Z'),
        Buffer.from([0, 1, 254, 255]),
        JSON.stringify({ a: [1, 2] }),
        null,
      ]);
      expect(r.rows[0]).toEqual({ t: 'héllo', i: 42, n: '12345678901234567890.5', ts: new Date('2026-05-01T12:34:56.789Z'), b: Buffer.from([0, 1, 254, 255]), j: { a: [1, 2] }, nothing: null });
      expect(r.fields.map((f) => f.dataTypeID)).toEqual([25, 23, 1700, 1184, 17, 114, 25]);
      const empty = await c.query('SELECT id, name FROM items WHERE id < $1', [0]);
      expect(empty.rows).toEqual([]);
      expect(empty.fields.map((f) => [f.name, f.dataTypeID])).toEqual([
        ['id', 23],
        ['name', 25],
      ]);
    } finally {
      await c.end();
    }
  });

  test('a prepared statement runs 1,000 times on one connection', async () => {
    const c = client();
    await c.connect();
    try {
      for (let i = 1; i <= 1000; i++) {
        const r = await c.query({ name: 'item-by-id', text: 'SELECT id, name FROM items WHERE id = $1', values: [(i % 100) + 1] });
        expect(r.rows).toEqual([{ id: (i % 100) + 1, name: `item ${(i % 100) + 1}` }]);
      }
    } finally {
      await c.end();
    }
  });

  test('MariaDB and SQLite sources take their own dialect and return PostgreSQL types', async () => {
    for (const db of ['Door/maria', 'Door/lite']) {
      const c = client(db);
      await c.connect();
      try {
        const r = await c.query('SELECT id, name FROM items WHERE id <= $1 ORDER BY id', [3]);
        expect(r.rows).toEqual([
          { id: db.endsWith('maria') ? 1 : '1', name: 'item 1' },
          { id: db.endsWith('maria') ? 2 : '2', name: 'item 2' },
          { id: db.endsWith('maria') ? 3 : '3', name: 'item 3' },
        ]);
        expect(r.fields.map((f) => f.dataTypeID)).toEqual([db.endsWith('maria') ? 23 : 20, 25]);
      } finally {
        await c.end();
      }
    }
  });
});

/** A `pg_sleep(30)` running through the front door, seen running on the source. */
async function sleepThroughTheDoor() {
  const c = client();
  await c.connect();
  const running = c.query('SELECT pg_sleep(30)').then(
    () => null,
    (e: { code?: string }) => e,
  );
  const watch = new Client({ connectionString: `${SERVER}/${sources.name}` });
  await watch.connect();
  const sleeping = async () => Number((await watch.query(`SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1 AND query = 'SELECT pg_sleep(30)' AND state = 'active'`, [sources.name])).rows[0].n);
  await eventually(async () => expect(await sleeping()).toBe(1), 10_000);
  return { c, running, watch, sleeping };
}

/** node-postgres' cancel: a CancelRequest on a new connection (to `port`) with the key from BackendKeyData. */
function cancelVia(port: number | undefined, c: Client) {
  const canceller = new Client({ host: '127.0.0.1', port, user: ADMIN, password: PASSWORD, database: 'Door/pg' });
  (canceller as unknown as { cancel(client: Client, query: unknown): void }).cancel(c, (c as unknown as { activeQuery: unknown }).activeQuery);
}

describe('cancel', () => {
  test("a client's cancel stops pg_sleep(30) on the source within 1 s", async () => {
    const { c, running, watch, sleeping } = await sleepThroughTheDoor();
    const started = Date.now();
    cancelVia(api.pgPort, c);
    const error = await running;
    expect(error?.code).toBe('57014');
    await eventually(async () => expect(await sleeping()).toBe(0), 1_000, 50);
    expect(Date.now() - started).toBeLessThan(1_500);
    // The connection is usable after the cancel.
    expect((await c.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await c.end();
    await watch.end();
  });

  test('a CancelRequest that reaches another API instance of the deployment stops the statement too', async () => {
    const { c, running, watch, sleeping } = await sleepThroughTheDoor();
    // The cancel goes to the other instance's front door (as a TCP balancer might send it).
    cancelVia(tlsApi.pgPort, c);
    expect((await running)?.code).toBe('57014');
    await eventually(async () => expect(await sleeping()).toBe(0), 1_000, 50);
    await c.end();
    await watch.end();
  });

  test("psql's Ctrl-C (SIGINT) cancels the running statement", async () => {
    const child = spawn('psql', ['-X', dsn('Door/pg'), '-c', 'SELECT pg_sleep(30)'], { env: { ...process.env, PGPASSWORD: PASSWORD, PGSSLMODE: 'disable' } });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    const watch = new Client({ connectionString: `${SERVER}/${sources.name}` });
    await watch.connect();
    const sleeping = async () => Number((await watch.query(`SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1 AND query = 'SELECT pg_sleep(30)' AND state = 'active'`, [sources.name])).rows[0].n);
    await eventually(async () => expect(await sleeping()).toBe(1), 10_000);
    child.kill('SIGINT');
    await eventually(async () => expect(await sleeping()).toBe(0), 1_000, 50);
    expect(await exited).not.toBe(0);
    expect(stderr).toMatch(/canceling statement due to user request/);
    await watch.end();
  });
});

describe('who may connect', () => {
  test('a stranger and a User without access to the data source are refused', async () => {
    const stranger = await psql([dsn('Door/pg', 'nobody@example.com'), '-c', 'SELECT 1'], {}, 'whatever password');
    expect(stranger.stderr).toMatch(/password authentication failed for user "nobody@example.com"/);
    const invite = await json<{ inviteToken: string; userId: string }>(`${api.url}/api/users/invite`, 'POST', { email: 'user@example.com' }, token);
    await json(`${api.url}/api/auth/accept-invite`, 'POST', { inviteToken: invite.body.inviteToken, password: 'user password 123' });
    const grant = await json(`${api.url}/api/clusters/Door/roles`, 'PUT', { email: 'user@example.com', role: 'user' }, token);
    expect(grant.status).toBeLessThan(300);
    const refused = await psql([dsn('Door/pg', 'user@example.com'), '-c', 'SELECT 1'], {}, 'user password 123');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/FATAL: {2}you may not use data source "pg"/);
    const missing = await psql([dsn('Door/nope'), '-c', 'SELECT 1']);
    expect(missing.stderr).toMatch(/FATAL: {2}cluster "Door" has no data source "nope"/);
  });

  test('failed sign-ins count in the same limit as REST sign-ins', async () => {
    for (let i = 0; i < 10; i++) {
      const r = await psql([dsn('Door/pg', 'locked@example.com'), '-c', 'SELECT 1'], {}, `wrong ${i}`);
      expect(r.stderr).toMatch(/password authentication failed/);
    }
    const rest = await json(`${api.url}/api/auth/login`, 'POST', { email: 'locked@example.com', password: 'wrong again 123' });
    expect(rest.status).toBe(429);
    const door = await psql([dsn('Door/pg', 'locked@example.com'), '-c', 'SELECT 1'], {}, 'wrong again');
    expect(door.stderr).toMatch(/FATAL: {2}too many failed sign-ins/);
  });

  test('a personal access token signs in as a password', async () => {
    const pat = await json<{ token: string }>(`${api.url}/api/tokens`, 'POST', { name: 'bi', expiresInDays: 1 }, token);
    const r = await psql([dsn('Door/pg'), '-c', 'SELECT count(*) FROM items'], {}, pat.body.token);
    expect(r.stdout.trim()).toBe('100');
  });

  (isRoot ? test : test.skip)('from another host: a plain-text password without TLS is refused, SCRAM-SHA-256 and sslmode=require work (needs root for a network namespace)', async () => {
    host = createOnPremHost();
    const ns = (args: string[], env: Record<string, string>) =>
      exec('ip', ['netns', 'exec', host!.name, 'psql', '-X', '-At', ...args], { env: { ...process.env, PGPASSWORD: PASSWORD, PGCONNECT_TIMEOUT: '10', ...env } }).then(
        (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
        (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
      );
    const remote = (database: string, user = ADMIN) => `host=${host!.hostAddress} port=${tlsApi.pgPort} user=${user} dbname=${database}`;
    // The admin's password has a verifier: SCRAM-SHA-256 works without TLS (the password never crosses the link).
    const scram = await ns([remote('Door/pg'), '-c', 'SELECT count(*) FROM items'], { PGSSLMODE: 'disable' });
    expect(scram.stderr).toBe('');
    expect(scram.stdout.trim()).toBe('100');
    // A token has no verifier, and no plain-text password is asked for there: over plain TCP it fails, inside TLS it works.
    const pat = await json<{ token: string }>(`${api.url}/api/tokens`, 'POST', { name: 'remote', expiresInDays: 1 }, token);
    const plain = await ns([remote('Door/pg'), '-c', 'SELECT 1'], { PGSSLMODE: 'disable', PGPASSWORD: pat.body.token });
    expect(plain.stderr).toMatch(/FATAL: {2}password authentication failed for user "admin@example.com"/);
    // An account whose password predates its verifier is told to use TLS.
    const db = new Client({ connectionString: api.databaseUrl });
    await db.connect();
    await db.query(`UPDATE "User" SET "scramVerifier" = NULL WHERE email = 'user@example.com'`);
    await db.end();
    const old = await ns([remote('Door/pg', 'user@example.com'), '-c', 'SELECT 1'], { PGSSLMODE: 'disable', PGPASSWORD: 'user password 123' });
    expect(old.stderr).toMatch(/FATAL: {2}user "user@example.com" cannot sign in over an unencrypted connection from 10\.[\d.]+: connect with TLS \(sslmode=require\)/);
    const tls = await ns([remote('Door/pg'), '-c', 'SELECT count(*) FROM items'], { PGSSLMODE: 'verify-ca', PGSSLROOTCERT: pki.caFile, PGPASSWORD: pat.body.token });
    expect(tls.stderr).toBe('');
    expect(tls.stdout.trim()).toBe('100');
    const required = await ns([remote('Door/pg'), '-c', 'SELECT count(*) FROM items'], { PGSSLMODE: 'require' });
    expect(required.stdout.trim()).toBe('100');
  });

  test('sslmode=require works on this host too, the certificate checked against the private CA', async () => {
    const r = await psql([`host=127.0.0.1 port=${tlsApi.pgPort} user=${ADMIN} dbname=Door/pg`, '-c', 'SELECT count(*) FROM items'], { PGSSLMODE: 'verify-full', PGSSLROOTCERT: pki.caFile });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('100');
  });
});

describe('pgbench', () => {
  test('pgbench -n -S with 8 clients for 10 s through the front door, the primary SIGKILLed in the middle: no client aborts', async () => {
    const init = await exec('pgbench', ['-i', '-s', '1', '-q', `${SERVER}/${sources.name}`], { env: process.env }).catch((e: { stderr: string }) => e);
    expect('stderr' in init && /error/i.test(init.stderr)).toBe(false);
    const bench = exec('pgbench', ['-n', '-S', '-M', 'extended', '-c', '8', '-j', '2', '-T', '10', dsn('Door/pg')], { env: { ...process.env, PGPASSWORD: PASSWORD, PGSSLMODE: 'disable' } }).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );
    await sleep(4_000);
    await alpha.kill('SIGKILL');
    const r = await bench;
    expect(r.stderr).not.toMatch(/aborted|error/i);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/number of failed transactions: 0/);
    expect(Number(/number of transactions actually processed: (\d+)/.exec(r.stdout)?.[1])).toBeGreaterThan(1000);
  }, 60_000);
});
