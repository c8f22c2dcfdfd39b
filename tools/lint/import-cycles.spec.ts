import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import madge from 'madge';

const root = path.join(__dirname, '../..');

/** Every project's sources: the apps, the portal's routes and components, the libs. */
const SOURCES = ['apps/api/src', 'apps/agent/src', 'apps/web/app', 'apps/web/src', 'libs/domain/src', 'libs/routing/src'];

// Type-only imports count: a cycle through `import type` still ties two files together (audit <-> auth was one).
const detective = { skipTypeImports: false, skipAsyncImports: false, mixedImports: true };

/**
 * The import graph of the given folders (paths relative to baseDir), with the workspace's path aliases. Generated
 * code (Prisma's client) and declaration files are left out: they are not ours to untangle.
 */
export async function importGraph(folders: string[], baseDir: string) {
  const result = await madge(
    folders.map((f) => path.join(baseDir, f)),
    {
      baseDir,
      fileExtensions: ['ts', 'tsx'],
      tsConfig: path.join(root, 'tsconfig.base.json'),
      detectiveOptions: { ts: detective, tsx: detective, es6: detective },
      excludeRegExp: [/[\\/]generated[\\/]/, /\.d\.ts$/],
    },
  );
  return { graph: result.obj(), cycles: result.circular(), skipped: result.warnings().skipped };
}

/** Imports of a feature from infrastructure, as "importer -> imported", within one app's src folder. */
export function layerViolations(graph: Record<string, string[]>, src: string): string[] {
  const infra = `${src}/infra/`;
  const features = `${src}/features/`;
  return Object.entries(graph)
    .filter(([file]) => file.startsWith(infra))
    .flatMap(([file, deps]) => deps.filter((d) => d.startsWith(features)).map((d) => `${file} -> ${d}`));
}

describe('import graph', () => {
  let workspace: Awaited<ReturnType<typeof importGraph>>;
  beforeAll(async () => {
    workspace = await importGraph(SOURCES, root);
  }, 60_000);

  it('resolves every import of ours (a broken alias would hide a cycle)', () => {
    expect(Object.keys(workspace.graph).length).toBeGreaterThan(100);
    expect(workspace.skipped.filter((s) => s.startsWith('.') || s.startsWith('@gateway/'))).toEqual([]);
    expect(workspace.graph['apps/api/src/app.module.ts']).toContain('apps/api/src/infra/config/config.ts');
    expect(workspace.graph['libs/routing/src/policy.ts']).toContain('libs/domain/src/index.ts');
  });

  it('has no import cycle in the apps or the libs', () => {
    expect(workspace.cycles).toEqual([]);
  });

  it("has the API's infrastructure import no feature (features depend on infra/, never the other way)", () => {
    expect(layerViolations(workspace.graph, 'apps/api/src')).toEqual([]);
  });

  describe('the checks themselves', () => {
    let dir: string;
    beforeAll(() => {
      dir = realpathSync(mkdtempSync(path.join(tmpdir(), 'gateway-import-cycles-')));
      const write = (file: string, code: string) => {
        mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
        writeFileSync(path.join(dir, file), code);
      };
      write('src/audit.ts', "import type { User } from './auth';\nexport const record = (u: User) => u.id;\n");
      write('src/auth.ts', "import { record } from './audit';\nexport interface User { id: string }\nexport const signIn = (u: User) => record(u);\n");
      write('src/infra/guard.ts', "import { verify } from '../features/tokens';\nexport const guard = (t: string) => verify(t);\n");
      write('src/features/tokens.ts', 'export const verify = (t: string) => t.length > 0;\n');
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('report a cycle through a type-only import', async () => {
      const { cycles } = await importGraph(['src'], dir);
      expect(cycles).toEqual([['src/audit.ts', 'src/auth.ts']]);
    }, 30_000);

    it('report infrastructure importing a feature', async () => {
      const { graph } = await importGraph(['src'], dir);
      expect(layerViolations(graph, 'src')).toEqual(['src/infra/guard.ts -> src/features/tokens.ts']);
    }, 30_000);
  });
});
