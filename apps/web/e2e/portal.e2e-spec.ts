import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
// The portal end to end drives the same real processes as the cluster tests: the API, two agents, databases.
import {
  type AgentProcess,
  type ApiProcess,
  createSampleSources,
  firstAdminToken,
  freePort,
  installMember,
  ROOT,
  sleep,
  startAgent,
  startApiProcess,
} from '@gateway/testing';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** A 1280x800 picture of every page, for reviewers (git-ignored). */
const SHOTS = path.join(__dirname, '..', 'screenshots');
const EMAIL = 'admin@example.com';
const PASSWORD = 'correct horse battery staple';

describe('admin portal in a real browser (API, two agents, PostgreSQL, Redis)', () => {
  let api: ApiProcess;
  let sources: Awaited<ReturnType<typeof createSampleSources>>;
  const agents: AgentProcess[] = [];
  let web: ChildProcess;
  let webUrl: string;
  let browser: Browser;
  let page: Page;
  let clusterId: string;
  let dataSourceId: string;
  let shot = 0;
  const screenshot = async (name: string) => {
    shot += 1;
    await page.screenshot({ path: path.join(SHOTS, `${String(shot).padStart(2, '0')}-${name}.png`) });
  };
  const tab = (name: string) => page.getByRole('tab', { name }).click();

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium (apt-get install -y chromium) or set CHROMIUM_PATH`);
    rmSync(SHOTS, { recursive: true, force: true });
    mkdirSync(SHOTS, { recursive: true });
    const env = { ...process.env, NEXT_TELEMETRY_DISABLED: '1' };
    const next = require.resolve('next/dist/bin/next');
    // The production build, as admins run it (API_URL is read at run time, so one build serves any API).
    const build = spawnSync(process.execPath, [next, 'build', 'apps/web'], { cwd: ROOT, env, encoding: 'utf8' });
    if (build.status !== 0) throw new Error(`next build failed:\n${build.stdout}\n${build.stderr}`);
    [api, sources] = await Promise.all([startApiProcess(), createSampleSources()]);
    const token = await firstAdminToken(api, EMAIL, PASSWORD);
    const a = await installMember(api, token, { name: 'portal', member: 'alpha', recoveryKey: 'portal-recovery-key' });
    const b = await installMember(api, token, { join: 'portal', member: 'bravo', recoveryKey: 'portal-recovery-key' });
    clusterId = a.clusterId;
    agents.push(await startAgent(a.config), await startAgent(b.config));
    const port = await freePort();
    webUrl = `http://127.0.0.1:${port}`;
    web = spawn(process.execPath, [next, 'start', 'apps/web', '--port', String(port), '--hostname', '127.0.0.1'], { cwd: ROOT, env: { ...env, API_URL: api.url }, stdio: 'ignore' });
    for (let i = 0; ; i++) {
      const up = await fetch(`${webUrl}/login`).then((r) => r.ok, () => false);
      if (up) break;
      if (i > 300) throw new Error('the portal did not start in 30 s');
      await sleep(100);
    }
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.setDefaultTimeout(15_000);
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    web?.kill('SIGTERM');
    await Promise.all(agents.map((x) => x.kill('SIGKILL')));
    await api?.stop();
    await sources?.drop();
  });

  it('signs in (with the form checked by the API schema first) and lists the cluster with its status', async () => {
    await page.goto(`${webUrl}/`);
    await page.waitForURL(/\/login/);
    await page.getByLabel('Email').fill('not-an-email');
    await page.getByLabel('Password').fill('short');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('must be an email address').waitFor();
    await page.getByText('must be at least 10 characters').waitFor();
    await page.getByLabel('Email').fill(EMAIL);
    await page.getByLabel('Password').fill('wrong password entirely');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: /email or password/i }).waitFor();
    await screenshot('sign-in');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${webUrl}/`);
    const row = page.getByRole('row', { name: /portal/ });
    await row.getByText('2 of 2 online').waitFor({ timeout: 15_000 });
    await expect(row.textContent()).resolves.toContain('primary first');
    await page.getByLabel('Search clusters').fill('nothing-like-this');
    await page.getByText('No cluster matches "nothing-like-this"').waitFor();
    await page.getByLabel('Search clusters').fill('port');
    await screenshot('clusters');
  });

  it('adds a data source, validating the form, and tests the connection through the cluster', async () => {
    await page.getByRole('link', { name: 'portal', exact: true }).click();
    await page.getByRole('heading', { name: 'portal', exact: true }).waitFor();
    await page.getByText('No data sources yet').waitFor();
    await page.getByRole('button', { name: 'Add a data source' }).click();
    await page.getByLabel('Port').fill('99999');
    await page.getByRole('button', { name: 'Add data source' }).click();
    await expect(page.locator('#ds-port-error').textContent()).resolves.toMatch(/port number/);
    await page.getByLabel('Name', { exact: true }).fill('sample');
    await page.getByLabel('Host').fill(sources.postgres.host);
    await page.getByLabel('Port').fill(String(sources.postgres.port));
    await page.getByLabel('Database').fill(sources.postgres.database);
    await page.getByLabel('Username').fill('postgres');
    await page.getByRole('button', { name: 'Add data source' }).click();
    await page.getByRole('row', { name: /sample/ }).waitFor();
    await page.getByRole('button', { name: 'Test connection to sample' }).click();
    await page.getByText(/Connection to sample works \(tested by member alpha/).waitFor({ timeout: 15_000 });
    await screenshot('data-sources');
    const href = await page.getByRole('link', { name: 'Query console' }).getAttribute('href');
    dataSourceId = /datasources\/([^/]+)\/console/.exec(href!)![1];
  });

  it('creates a dataset, refreshes it, and shows the history row with the member that ran it', async () => {
    await tab('Datasets');
    await page.getByRole('button', { name: 'Create a dataset' }).click();
    await page.getByLabel('Name', { exact: true }).fill('items');
    await page.getByLabel('Query (read-only SQL)').fill('SELECT * FROM items');
    await page.getByLabel('Schedule (cron, optional)').fill('not a cron');
    await page.getByRole('button', { name: 'Create dataset' }).click();
    await page.locator('#dset-cron-error').waitFor();
    await page.getByLabel('Schedule (cron, optional)').fill('0 3 * * *');
    await page.getByRole('button', { name: 'Create dataset' }).click();
    await page.getByRole('row', { name: /items/ }).getByText('0 3 * * * (UTC)').waitFor();
    await page.getByRole('button', { name: 'Refresh items now' }).click();
    const history = page.getByRole('table', { name: 'Refresh history of items' });
    await history.getByRole('row').nth(1).getByRole('cell', { name: 'succeeded', exact: true }).waitFor({ timeout: 30_000 });
    const first = await history.getByRole('row').nth(1).textContent();
    expect(first).toContain('#1 alpha');
    expect(first).toContain('100');
    await page.getByRole('img', { name: /Refresh durations/ }).waitFor();
    await screenshot('datasets');
    await page.getByRole('button', { name: 'Edit items' }).click();
    await page.getByLabel('Schedule (cron, optional)').fill('30 4 * * *');
    await page.getByLabel('Time zone').fill('Europe/Paris');
    await page.getByRole('button', { name: 'Save dataset' }).click();
    await page.getByRole('row', { name: /items/ }).getByText('30 4 * * * (Europe/Paris)').waitFor();
  });

  it('disables the primary in Members, and the next refresh is served by the other member', async () => {
    await tab('Members');
    const alpha = page.locator('tr[data-member="alpha"]');
    await alpha.getByText('online').waitFor({ timeout: 15_000 });
    // Each member says whether it can reach each data source of the cluster.
    await alpha.getByRole('list', { name: 'data sources reachable from alpha' }).getByText('sample: reachable').waitFor({ timeout: 15_000 });
    // Drain before an upgrade: no new work, shown as drained once idle; Resume gives it work again.
    await page.getByRole('button', { name: 'Drain alpha' }).click();
    await alpha.getByText('drained', { exact: true }).waitFor({ timeout: 15_000 });
    await page.getByRole('button', { name: 'Resume alpha' }).click();
    await alpha.getByText('online', { exact: true }).waitFor({ timeout: 15_000 });
    await page.getByRole('button', { name: 'Disable alpha' }).click();
    await alpha.getByText('disabled').waitFor();
    await screenshot('members');
    await tab('Datasets');
    await page.getByRole('button', { name: 'Refresh items now' }).click();
    const history = page.getByRole('table', { name: 'Refresh history of items' });
    await history.getByRole('row').nth(2).waitFor();
    await history.getByRole('row').nth(1).getByRole('cell', { name: 'succeeded', exact: true }).waitFor({ timeout: 30_000 });
    await expect(history.getByRole('row').nth(1).textContent()).resolves.toMatch(/#1 bravo/);
  }, 60_000);

  it('runs a query in the console, served by the member that can, and says clearly when none can', async () => {
    await page.goto(`${webUrl}/datasources/${dataSourceId}/console`);
    await page.getByLabel('Read-only SQL').fill('SELECT count(*) AS n FROM items');
    await page.getByRole('button', { name: 'Run query' }).click();
    const outcome = page.getByRole('status', { name: 'Query outcome' });
    await outcome.waitFor({ timeout: 15_000 });
    await expect(outcome.textContent()).resolves.toMatch(/1 row · served by bravo/);
    await expect(page.getByRole('table', { name: 'Query result' }).getByRole('cell').first().textContent()).resolves.toBe('100');
    await screenshot('query-console');
    await page.getByLabel('Read-only SQL').fill('DELETE FROM items');
    await page.getByRole('button', { name: 'Run query' }).click();
    await page.getByRole('alert').filter({ hasText: /read-only/ }).waitFor();
    // Both members disabled: the console says nobody can serve, at once.
    const token = await firstAdminTokenOf();
    const members = (await (await fetch(`${api.url}/api/clusters/${clusterId}/members`, { headers: { authorization: `Bearer ${token}` } })).json()) as { id: string; name: string }[];
    const bravo = members.find((m) => m.name === 'bravo')!;
    await fetch(`${api.url}/api/members/${bravo.id}`, { method: 'PATCH', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ enabled: false }) });
    await page.getByLabel('Read-only SQL').fill('SELECT 1');
    await page.getByRole('button', { name: 'Run query' }).click();
    await page.getByRole('alert').filter({ hasText: /No gateway member can serve this now/ }).waitFor();
    await screenshot('query-console-no-member');
  });

  it('Traffic shows queries per minute by member: after the primary is killed, the second member\'s series appears', async () => {
    const token = await firstAdminTokenOf();
    const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const members = (await (await fetch(`${api.url}/api/clusters/${clusterId}/members`, { headers: auth })).json()) as { id: string; name: string }[];
    for (const m of members) await fetch(`${api.url}/api/members/${m.id}`, { method: 'PATCH', headers: auth, body: JSON.stringify({ enabled: true }) });
    const query = async () => ((await (await fetch(`${api.url}/api/datasources/${dataSourceId}/query`, { method: 'POST', headers: auth, body: JSON.stringify({ sql: 'SELECT 1' }) })).json()) as { servedBy?: { memberName: string } }).servedBy?.memberName;
    for (let i = 0; i < 10; i++) expect(await query()).toBe('alpha');
    await page.goto(`${webUrl}/clusters/${clusterId}?tab=traffic`);
    const chart = page.getByRole('img', { name: /Queries per minute by member/ });
    await chart.waitFor();
    await page.locator('li[data-member="alpha"]').waitFor();
    // bravo served the console's queries earlier: its count before the failover.
    const countOf = async (name: string) => Number(/: (\d+) queries/.exec((await page.locator(`li[data-member="${name}"]`).textContent({ timeout: 1_000 }).catch(() => '')) ?? '')?.[1] ?? 0);
    const until = async (check: () => Promise<boolean>) => {
      for (let i = 0; i < 150 && !(await check()); i++) await sleep(100);
      expect(await check()).toBe(true);
    };
    await until(async () => (await countOf('alpha')) >= 10);
    const bravoBefore = await countOf('bravo');
    // The primary dies: the next queries are served by bravo, and its series appears in the chart.
    await agents[0].kill('SIGKILL');
    for (let i = 0; i < 50 && (await query()) !== 'bravo'; i++) await sleep(100);
    for (let i = 0; i < 5; i++) expect(await query()).toBe('bravo');
    await page.locator('g[data-series="bravo"] rect').first().waitFor({ timeout: 15_000 });
    await until(async () => (await countOf('bravo')) >= bravoBefore + 5);
    expect(await countOf('alpha')).toBeGreaterThanOrEqual(10);
    await screenshot('traffic');
  });

  it('shows administrators, settings, activity and the status page; signs out', async () => {
    await page.goto(`${webUrl}/clusters/${clusterId}?tab=admins`);
    await page.getByRole('table', { name: 'Administrators and users' }).getByText(EMAIL).waitFor();
    await screenshot('administrators');
    await tab('Settings');
    await page.getByLabel('Contact').fill('ops@example.com');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByText('Settings saved').waitFor();
    await screenshot('settings');
    await tab('Activity');
    await page.getByRole('table', { name: 'Activity' }).getByText('member.update').first().waitFor();
    await screenshot('activity');
    // Keyboard: arrow keys move between tabs.
    await page.getByRole('tab', { name: 'Activity' }).focus();
    await page.keyboard.press('ArrowLeft');
    await page.getByRole('tab', { name: 'Settings', selected: true }).waitFor();
    // Tablet width: the same pages, tables scroll inside their frame instead of the page.
    await page.setViewportSize({ width: 820, height: 1180 });
    await page.goto(`${webUrl}/clusters/${clusterId}?tab=members`);
    await page.locator('tr[data-member="bravo"]').waitFor();
    await page.screenshot({ path: path.join(SHOTS, 'tablet-members.png') });
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.goto(`${webUrl}/status`);
    await page.getByRole('table', { name: 'Control plane status' }).waitFor();
    await screenshot('status');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/login/);
    await page.goto(`${webUrl}/clusters/${clusterId}`);
    await page.waitForURL(/\/login\?next=/);
  });

  async function firstAdminTokenOf() {
    const r = await fetch(`${api.url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: EMAIL, password: PASSWORD }) });
    return ((await r.json()) as { token: string }).token;
  }
});
