import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { createApp, type AppHandle } from '../src/app';
import { loadConfig } from '../src/infra/config/config';
import { dropRedisPrefix, freePort, REDIS_URL, testRedisPrefix } from '@gateway/testing';

/**
 * The control plane's PostgreSQL restarted under a request loop: every answer is 200 or 503 (never 500), answers
 * resume within 2 s of the database being back, and the scheduler and reconciler wait and resume with one line
 * each instead of one per tick. The PostgreSQL that restarts is a cluster of this test's own (pg_createcluster on a
 * free port), never the shared one; it is dropped afterwards.
 */
const VERSION = '15';
const NAME = `gwtest${randomBytes(3).toString('hex')}`;
const PASSWORD = 'long enough password';


const pg = (...args: string[]) => execFileSync(args[0], args.slice(1), { stdio: 'pipe' }).toString();

let port: number;
let app: AppHandle;
let url: string;
const logs: string[] = [];
const prefix = testRedisPrefix();

beforeAll(async () => {
  port = await freePort();
  pg('pg_createcluster', VERSION, NAME, '--port', String(port), '--', '--auth=trust');
  pg('pg_ctlcluster', '--skip-systemctl-redirect', VERSION, NAME, 'start');
  const config = loadConfig({
    DATABASE_URL: `postgresql://postgres@127.0.0.1:${port}/gateway`,
    REDIS_URL,
    REDIS_PREFIX: prefix,
    API_PORT: '0',
    LOG_LEVEL: 'info',
    SCHEDULER_INTERVAL_MS: '100',
    RECONCILE_INTERVAL_MS: '300',
    SESSION_CACHE_MS: '0',
  });
  app = await createApp(config, new Writable({ write: (c, _e, done) => (logs.push(String(c)), done()) }));
  await app.app.listen({ port: 0, host: '127.0.0.1' });
  url = `http://127.0.0.1:${(app.app.getHttpServer().address() as { port: number }).port}`;
}, 120_000);

afterAll(async () => {
  await app?.app.close();
  await dropRedisPrefix(prefix);
  try {
    pg('pg_dropcluster', '--stop', VERSION, NAME);
  } catch {
    // not created
  }
}, 60_000);

it('answers 503 (never 500) while its PostgreSQL restarts, resumes within 2 s, and the scheduler and reconciler say it once each', async () => {
  const signup = await fetch(`${url}/api/auth/signup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'ops@example.com', password: PASSWORD }) });
  const { token } = (await signup.json()) as { token: string };
  const answers: { at: number; status: number; detail?: string }[] = [];
  let stop = false;
  const loop = (async () => {
    while (!stop) {
      const res = await fetch(`${url}/api/clusters`, { headers: { authorization: `Bearer ${token}` } });
      const body = (await res.json()) as { detail?: string };
      answers.push({ at: Date.now(), status: res.status, detail: body.detail });
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  await new Promise((r) => setTimeout(r, 500));
  const before = logs.length;
  pg('pg_ctlcluster', '--skip-systemctl-redirect', VERSION, NAME, 'stop', '-m', 'fast');
  await new Promise((r) => setTimeout(r, 3_000));
  pg('pg_ctlcluster', '--skip-systemctl-redirect', VERSION, NAME, 'start');
  const backAt = Date.now();
  await new Promise((r) => setTimeout(r, 3_000));
  stop = true;
  await loop;

  expect(answers.filter((a) => a.status !== 200 && a.status !== 503)).toEqual([]);
  const outage = answers.filter((a) => a.status === 503);
  expect(outage.length).toBeGreaterThan(10);
  expect(new Set(outage.map((a) => a.detail))).toEqual(new Set(['the database (PostgreSQL) is unreachable']));
  const firstOkAfter = answers.find((a) => a.at > backAt && a.status === 200);
  expect(firstOkAfter).toBeDefined();
  expect(firstOkAfter!.at - backAt).toBeLessThan(2_000);
  expect(answers.filter((a) => a.at > firstOkAfter!.at && a.status !== 200)).toEqual([]);

  const lines = logs.slice(before).join('').split('\n').filter(Boolean);
  const about = (what: string) => lines.filter((l) => l.includes(what));
  expect(about('the scheduler waits')).toHaveLength(1);
  expect(about('the scheduler resumed')).toHaveLength(1);
  expect(about('the reconciler waits').length).toBeLessThanOrEqual(1);
  expect(lines.filter((l) => l.includes('"level":50'))).toEqual([]);
}, 60_000);
