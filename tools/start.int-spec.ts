import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Route } from 'playwright-core';
import { dropRedisPrefix, eventually, freePort, ROOT, sleep, tempDir, testDatabase, testRedisPrefix } from '@gateway/testing';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { portalInputsHash } = require('./portal-build') as { portalInputsHash: (root: string) => { hash: string; dirs: string[] } };

// `npm start` on a fresh deployment and again: the demo is created once, then reused; the portal is a production
// build, made again only when its sources changed, and keeps what a visitor types before it hydrates; Ctrl-C stops it all.
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

describe('the portal build npm start keeps', () => {
  const root = tempDir('gateway-portal-inputs-');
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('changes its inputs hash for the portal, the libs it imports and the lockfile, not for its build output or tests', () => {
    const write = (rel: string, text: string) => {
      mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
      writeFileSync(path.join(root, rel), text);
    };
    cpSync(path.join(ROOT, 'tsconfig.base.json'), path.join(root, 'tsconfig.base.json'));
    write('package-lock.json', '{}');
    write('apps/web/app/page.tsx', "import { Credentials } from '@gateway/domain';\n");
    write('libs/domain/src/index.ts', "export * from './auth';\n");
    write('libs/domain/src/auth.ts', 'export const Credentials = 1;\n');
    write('libs/routing/src/index.ts', 'export const routing = 1;\n');
    const first = portalInputsHash(root);
    expect(first.dirs).toEqual(['apps/web', 'libs/domain']);
    const changed = (rel: string, text: string) => {
      const before = portalInputsHash(root).hash;
      write(rel, text);
      return portalInputsHash(root).hash !== before;
    };
    expect(changed('apps/web/.next/BUILD_ID', 'x')).toBe(false);
    expect(changed('apps/web/screenshots/01-sign-in.png', 'x')).toBe(false);
    expect(changed('apps/web/e2e/portal.e2e-spec.ts', 'x')).toBe(false);
    expect(changed('libs/routing/src/index.ts', 'export const routing = 2;\n')).toBe(false);
    expect(changed('apps/web/app/page.tsx', "import { Credentials } from '@gateway/domain';\nexport default 1;\n")).toBe(true);
    expect(changed('libs/domain/src/auth.ts', 'export const Credentials = 2;\n')).toBe(true);
    expect(changed('package-lock.json', '{"lockfileVersion":3}')).toBe(true);
    expect(changed('apps/web/src/tabs/routing.tsx', "import { routing } from '@gateway/routing';\n")).toBe(true);
    expect(portalInputsHash(root).dirs).toEqual(['apps/web', 'libs/domain', 'libs/routing']);
  });
});

describe('npm start: first run with a demo, second run reusing it', () => {
  const db = testDatabase('gw_test_start');
  const demo = testDatabase('gw_src_demo');
  const redisPrefix = testRedisPrefix();
  const demoDir = tempDir('gateway-demo-');
  let env: Record<string, string>;
  let apiUrl: string;
  let webUrl: string;
  let browser: Browser;
  /** npm start processes still running, stopped in afterAll when a failed assertion left one behind. */
  const running = new Set<ChildProcess>();

  beforeAll(async () => {
    const [apiPort, webPort] = [await freePort(), await freePort()];
    apiUrl = `http://127.0.0.1:${apiPort}`;
    webUrl = `http://127.0.0.1:${webPort}`;
    if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium (apt-get install -y chromium) or set CHROMIUM_PATH`);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'] });
    env = {
      ...(process.env as Record<string, string>),
      API_PORT: String(apiPort),
      WEB_PORT: String(webPort),
      DATABASE_URL: db.url,
      REDIS_PREFIX: redisPrefix,
      DEMO_DIR: demoDir,
      DEMO_DATABASE: demo.name,
      LOG_LEVEL: 'warn',
    };
  });

  afterAll(async () => {
    await browser?.close();
    await Promise.all([...running].map((child) => Promise.race([stop(child), sleep(20_000)])));
    await db.drop();
    await demo.drop();
    await dropRedisPrefix(redisPrefix);
  });

  /** Starts `npm start`'s script; `ready` resolves when it has printed how to sign in (a first build may take minutes). */
  function start(): { child: ChildProcess; out: () => string; ready: Promise<void> } {
    const child = spawn(process.execPath, [path.join(ROOT, 'tools/start.js')], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    child.once('exit', () => running.delete(child));
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`npm start did not finish starting in 600 s:\n${out}`)), 600_000);
      const check = () => {
        if (/Ctrl-C stops everything/.test(out)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on('data', check);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`npm start exited with ${code}:\n${out}`));
      });
    });
    ready.catch(() => undefined);
    return { child, out: () => out, ready };
  }

  /** Resolves at the portal's first answer on /login (or fails with npm start's output if it stops first). */
  async function firstAnswer(started: ReturnType<typeof start>) {
    let exited = false;
    started.child.once('exit', () => (exited = true));
    for (;;) {
      if (exited) await started.ready;
      if (await fetch(`${webUrl}/login`).then((r) => r.ok, () => false)) return;
      await sleep(25);
    }
  }

  const stop = (child: ChildProcess) =>
    new Promise<number | null>((resolve) => {
      child.once('exit', (code) => resolve(code));
      child.kill('SIGINT');
    });

  const api = async (method: string, p: string, token?: string, body?: unknown) => {
    const r = await fetch(`${apiUrl}/api${p}`, { method, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> & unknown[] };
  };

  it('creates a demo cluster that answers queries and schedules a refresh, then reuses it on the next start', async () => {
    const first = start();
    await first.ready;
    expect(first.out()).toMatch(/portal: (building it for production|production build up to date)/);
    const m = /Sign in to the portal as (\S+) with the password (\S+)/.exec(first.out());
    expect(m).not.toBeNull();
    const [, email, password] = m!;
    expect(first.out()).toMatch(/Portal: +http:\/\/127\.0\.0\.1:\d+/);
    expect(statSync(path.join(demoDir, 'state.json')).mode & 0o077).toBe(0);
    const login = await api('POST', '/auth/login', undefined, { email, password });
    expect(login.status).toBe(200);
    const token = login.body.token as string;
    const clusters = (await api('GET', '/clusters', token)).body as unknown as { id: string; name: string; memberCount: number; onlineCount: number }[];
    expect(clusters.map((c) => [c.name, c.memberCount])).toEqual([['demo', 2]]);
    await eventually(async () => {
      const c = (await api('GET', `/clusters/${clusters[0].id}`, token)).body;
      if (c.onlineCount !== 2) throw new Error(`${c.onlineCount} of 2 online`);
    }, 20_000, 250);
    const sources = (await api('GET', `/clusters/${clusters[0].id}/datasources`, token)).body as unknown as { id: string; name: string }[];
    expect(sources.map((s) => s.name)).toEqual(['demo-sales']);
    const q = await api('POST', `/datasources/${sources[0].id}/query`, token, { sql: 'SELECT count(*)::int AS n FROM sales' });
    expect(q.body.rows).toEqual([[1000]]);
    const datasets = (await api('GET', `/datasets?cluster=${clusters[0].id}`, token)).body as unknown as { name: string; schedule: { cron: string } | null; nextRunAt: string | null }[];
    expect(datasets.map((d) => [d.name, d.schedule?.cron])).toEqual([['sales by region', '*/5 * * * *']]);
    expect(datasets[0].nextRunAt).not.toBeNull();
    expect(await stop(first.child)).toBe(0);

    // Unchanged sources: no build, so the portal answers early. A visitor types at once, before its scripts have
    // run (they are held until the typing is done), and the form still holds it all once React has hydrated it.
    const second = start();
    await firstAnswer(second);
    const page = await browser.newPage();
    page.setDefaultTimeout(30_000);
    const held: Route[] = [];
    let holding = true;
    await page.route('**/_next/static/**/*.js', (route) => (holding ? held.push(route) : route.continue()));
    await page.goto(`${webUrl}/login`, { waitUntil: 'commit' });
    const emailBox = page.getByLabel('Email');
    const passwordBox = page.getByLabel('Password');
    await emailBox.pressSequentially(email);
    await passwordBox.pressSequentially(password);
    const hydrated = () => emailBox.evaluate((el) => Object.keys(el).some((k) => k.startsWith('__reactFiber$')));
    expect(await hydrated()).toBe(false);
    holding = false;
    await Promise.all(held.map((r) => r.continue()));
    await eventually(async () => {
      if (!(await hydrated())) throw new Error('the sign-in form has not hydrated');
    }, 30_000, 50);
    expect(await emailBox.inputValue()).toBe(email);
    expect(await passwordBox.inputValue()).toBe(password);
    await second.ready;
    expect(second.out()).toContain('portal: production build up to date (sources unchanged since the last build), not rebuilding');
    expect(second.out()).not.toContain('building it for production');
    expect(second.out()).toContain(`Sign in to the portal as ${email} with the password ${password}`);
    // What was typed before hydration signs in.
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${webUrl}/`);
    await page.getByRole('row', { name: /demo/ }).waitFor();
    await page.close();
    const again = await api('POST', '/auth/login', undefined, { email, password });
    const after = (await api('GET', '/clusters', again.body.token as string)).body as unknown as { id: string }[];
    expect(after.map((c) => c.id)).toEqual([clusters[0].id]);
    expect(await stop(second.child)).toBe(0);
  }, 900_000);
});
