import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

// The workspace as Nx sees it: targets named once in nx.json, what `nx affected` picks after a change to a lib,
// and the cache answering a second run. Real Nx CLI runs over this checkout (no daemon, a cache folder of its own).
const root = path.join(__dirname, '..');
const nx = require.resolve('nx/bin/nx.js');
const work = mkdtempSync(path.join(tmpdir(), 'nx-workspace-'));
const env = { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_CACHE_DIRECTORY: path.join(work, 'cache'), NX_WORKSPACE_DATA_DIRECTORY: path.join(work, 'data'), NX_SKIP_NX_CACHE: '' };
const run = (...args: string[]) => execFileSync(process.execPath, [nx, ...args], { cwd: root, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

afterAll(() => rmSync(work, { recursive: true, force: true }));

interface ProjectGraph {
  graph: { nodes: Record<string, { data: { root: string; targets: Record<string, { cache?: boolean; executor?: string }> } }>; dependencies: Record<string, { target: string }[]> };
}

function projectGraph(): ProjectGraph['graph'] {
  const file = path.join(work, 'graph.json');
  run('graph', `--file=${file}`);
  return (JSON.parse(readFileSync(file, 'utf8')) as ProjectGraph).graph;
}

/** Every project that depends on `name`, directly or through others. */
function dependents(graph: ProjectGraph['graph'], name: string): Set<string> {
  const found = new Set<string>();
  let grew = true;
  while (grew) {
    grew = false;
    for (const [project, deps] of Object.entries(graph.dependencies)) {
      if (found.has(project)) continue;
      if (deps.some((d) => d.target === name || found.has(d.target))) {
        found.add(project);
        grew = true;
      }
    }
  }
  return found;
}

describe('the Nx workspace', () => {
  let graph: ProjectGraph['graph'];
  beforeAll(() => {
    graph = projectGraph();
  }, 120_000);

  it('declares its targets once, in nx.json: no project spells a jest, tsc or eslint command', () => {
    const projectFiles = Object.values(graph.nodes).map((n) => path.join(root, n.data.root, 'project.json'));
    expect(projectFiles.length).toBeGreaterThanOrEqual(5);
    for (const file of projectFiles) {
      const text = readFileSync(file, 'utf8');
      expect({ file, spelled: /"(jest|eslint) |tsc -p [^"]*tsconfig\.json --noEmit"/.test(text) && !file.endsWith('apps/web/project.json') }).toEqual({ file, spelled: false });
    }
    const defaults = JSON.parse(readFileSync(path.join(root, 'nx.json'), 'utf8')).targetDefaults;
    expect(Object.keys(defaults)).toEqual(expect.arrayContaining(['typecheck', 'lint', 'test', 'int-test']));
  });

  it('caches typecheck, lint and unit tests, never integration tests; libs have no build nothing reads', () => {
    for (const [name, node] of Object.entries(graph.nodes)) {
      const t = node.data.targets;
      for (const cached of ['typecheck', 'lint', 'test']) if (t[cached]) expect({ name, cached, cache: t[cached].cache }).toEqual({ name, cached, cache: true });
      if (t['int-test']) expect({ name, cache: t['int-test'].cache }).toEqual({ name, cache: false });
      if (node.data.root.startsWith('libs/')) expect({ name, build: t.build }).toEqual({ name, build: undefined });
    }
    expect(readdirSync(path.join(root, 'apps')).every((app) => graph.nodes[app]?.data.targets['int-test'])).toBe(true);
  });

  it('`nx affected -t test` after a change to libs/routing runs routing and the projects depending on it, and no others', () => {
    const file = path.join(work, 'affected.json');
    run('affected', '-t', 'test', '--files=libs/routing/src/index.ts', `--graph=${file}`);
    const tasks = Object.keys((JSON.parse(readFileSync(file, 'utf8')) as { tasks: { tasks: Record<string, unknown> } }).tasks.tasks).sort();
    const expected = ['routing', ...dependents(graph, 'routing')].filter((p) => graph.nodes[p].data.targets.test).map((p) => `${p}:test`).sort();
    expect(tasks).toEqual(expected);
    expect(tasks).toContain('api:test');
    expect(tasks).not.toContain('domain:test'); // routing depends on domain, not the other way round
    expect(tasks).not.toContain('agent:test');
  }, 120_000);

  it('a second run with no change answers typecheck, lint and test from the cache', () => {
    const first = run('run-many', '-t', 'typecheck', 'lint', 'test', '-p', 'routing', 'domain', '--outputStyle=stream');
    expect(first).not.toMatch(/6\/6 hit/);
    const second = run('run-many', '-t', 'typecheck', 'lint', 'test', '-p', 'routing', 'domain', '--outputStyle=stream');
    expect(second).toMatch(/Nx read the output from the cache instead of running the command for 6 out of 6 tasks|Cache:\s+6\/6 hit/);
  }, 240_000);
});
