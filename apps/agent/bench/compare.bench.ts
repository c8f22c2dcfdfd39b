/**
 * The live path of another commit against this tree's, side by side in one run: on this machine the figures of two
 * runs minutes apart differ by more than most changes do, so a change is judged against its baseline only when
 * both are measured together. Each side is a whole deployment (its own API, database, Redis prefix and two agents,
 * started from its own checkout); both query the same PostgreSQL, in turn, in blocks of 100 `SELECT 1`, after a
 * warm-up of each. It prints p50/p90/p99 of each, their ratios, and the CPU each side's API and serving member
 * spent per query.
 * Usage: npm run bench -- compare [--ref HEAD] [--calls 4000] [--warmup 2500]
 *   --ref: any commit; with HEAD and no uncommitted change, the same code twice (what the noise alone gives).
 * The other commit is checked out in a temporary git worktree; its node_modules are hard links to this tree's when
 * both have the same package-lock.json, else installed there with `npm ci --prefer-offline`.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as here from '@gateway/testing';
import { closeConnections, numberArg, pct, post, startLiveCluster } from './live-cluster';

type Testing = typeof here;

/** `--ref`: the commit to compare with. */
const refArg = (args: string[]) => {
  const i = args.indexOf('--ref');
  return i >= 0 ? args[i + 1] : 'HEAD';
};

/** The other commit's checkout, ready to run. */
function checkout(ref: string): { root: string; remove: () => void } {
  const git = (...a: string[]) => execFileSync('git', a, { cwd: here.ROOT, encoding: 'utf8' }).trim();
  const commit = git('rev-parse', '--verify', `${ref}^{commit}`);
  const root = mkdtempSync(path.join(tmpdir(), 'gateway-compare-'));
  git('worktree', 'add', '--detach', root, commit);
  const remove = () => {
    try {
      git('worktree', 'remove', '--force', root);
    } catch {
      rmSync(root, { recursive: true, force: true });
    }
  };
  try {
    const sameLock = readFileSync(path.join(root, 'package-lock.json'), 'utf8') === readFileSync(path.join(here.ROOT, 'package-lock.json'), 'utf8');
    if (sameLock) {
      execFileSync('cp', ['-al', path.join(here.ROOT, 'node_modules'), path.join(root, 'node_modules')]);
      execFileSync(process.execPath, [path.join(root, 'tools/prisma-generate.js')], { cwd: root, stdio: 'ignore' });
    } else {
      console.log(`compare: ${commit.slice(0, 12)} has another package-lock.json: npm ci there (a minute or more)`);
      execFileSync('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: root, stdio: 'ignore' });
    }
  } catch (e) {
    remove();
    throw e;
  }
  console.log(`compare: ${ref} (${commit.slice(0, 12)}) checked out in ${root}`);
  return { root, remove };
}

/** A deployment of one checkout (its API and two agents, see startLiveCluster), and how to stop it. */
async function deployment(t: Testing, sources: Awaited<ReturnType<Testing['createSampleSources']>>, name: string) {
  const api = await t.startApiProcess({ LOG_LEVEL: 'warn' });
  const agents: here.AgentProcess[] = [];
  const stop = async () => {
    await Promise.all(agents.map((x) => x.kill('SIGTERM')));
    await api.stop();
  };
  try {
    const { token, queryUrl } = await startLiveCluster(t, api, sources, name, agents);
    return { url: queryUrl, token, pids: [api.child.pid!, agents[0].child.pid!], stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

export async function main(args: string[]) {
  const ref = refArg(args);
  const calls = numberArg(args, 'calls', 4000);
  const warmup = numberArg(args, 'warmup', 2500);
  const other = checkout(ref);
  // Each side's API and agent compile their own sources: the other checkout must not be given this tree's tsconfig.
  delete process.env.SWC_NODE_PROJECT;
  const sources = await here.createSampleSources();
  const sides: { name: string; d: Awaited<ReturnType<typeof deployment>>; ms: number[]; cpu: number[] }[] = [];
  try {
    // The other checkout's own test support (it starts that checkout's API and agent): loaded by path at run time.
    const entry = path.join(other.root, 'libs', 'testing', 'src', 'index.ts');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const theirs = require(entry) as Testing;
    sides.push({ name: ref, d: await deployment(theirs, sources, 'base'), ms: [], cpu: [] });
    sides.push({ name: 'this tree', d: await deployment(here, sources, 'tree'), ms: [], cpu: [] });
    const once = async (s: (typeof sides)[number]) => {
      const r = await post(s.d.url, s.d.token, { sql: 'SELECT 1' });
      if (r.status !== 200) throw new Error(`${s.name}: query failed: ${r.body}`);
    };
    for (const s of sides) for (let i = 0; i < warmup; i++) await once(s);
    const before = sides.map((s) => s.d.pids.map(here.cpuTimeMs));
    for (let block = 0; block < calls / 100; block++) {
      for (const s of sides) {
        for (let i = 0; i < 100; i++) {
          const t = performance.now();
          await once(s);
          s.ms.push(performance.now() - t);
        }
      }
    }
    sides.forEach((s, i) => (s.cpu = s.d.pids.map((pid, j) => ((here.cpuTimeMs(pid) - before[i][j]) * 1000) / s.ms.length)));
    for (const s of sides) s.ms.sort((x, y) => x - y);
    const [base, tree] = sides;
    const row = (label: string, f: (s: (typeof sides)[number]) => number, unit: string, digits: number) =>
      console.log(`| ${label} | ${f(base).toFixed(digits)} ${unit} | ${f(tree).toFixed(digits)} ${unit} | ${(f(tree) / f(base)).toFixed(2)} |`);
    console.log(`\nSELECT 1 through the gateway, ${calls} calls each after ${warmup} of warm-up, in turn in blocks of 100:\n`);
    console.log(`| figure | ${base.name} | this tree | this tree / ${base.name} |`);
    console.log('| --- | --- | --- | --- |');
    row('latency p50', (s) => pct(s.ms, 50), 'ms', 3);
    row('latency p90', (s) => pct(s.ms, 90), 'ms', 3);
    row('latency p99', (s) => pct(s.ms, 99), 'ms', 3);
    row('API CPU per query', (s) => s.cpu[0], 'µs', 0);
    row('serving member CPU per query', (s) => s.cpu[1], 'µs', 0);
  } finally {
    for (const s of sides) await s.d.stop();
    await sources.drop();
    closeConnections();
    other.remove();
  }
}
