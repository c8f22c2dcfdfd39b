import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { call, ROOT } from '@gateway/testing';
import { startTestApi, type TestApi } from './support/test-env';

// The document the API serves must stay usable by the tools clients use: Redocly's lint finds nothing in it, and a
// TypeScript client generated from it type-checks a real script. Each check is also shown failing a violation.

const bin = (name: string) => join(ROOT, 'node_modules/.bin', name);
const PUBLIC_URL = 'https://gateway.test';
const SAMPLE = join(__dirname, 'openapi-client/sample-client.ts');

interface Operation {
  operationId?: string;
}
interface Document {
  servers: { url: string }[];
  paths: Record<string, Record<string, Operation>>;
}
interface Problem {
  ruleId: string;
  severity: 'error' | 'warn';
  message: string;
  location: { pointer: string }[];
}

let api: TestApi;
let doc: Document;
let dir: string;

/** Runs a tool from node_modules; whether it exited 0, and what it wrote. */
async function tool(name: string, args: string[]) {
  const env = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' };
  try {
    const { stdout } = await promisify(execFile)(bin(name), args, { cwd: dir, env, maxBuffer: 64 * 1024 * 1024 });
    return { ok: true, stdout };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    if (err.stdout === undefined) throw e; // it did not run at all
    return { ok: false, stdout: err.stdout, stderr: err.stderr };
  }
}

async function lint(document: Document, name: string): Promise<Problem[]> {
  await writeFile(join(dir, `${name}.json`), JSON.stringify(document));
  const { stdout } = await tool('redocly', ['lint', `${name}.json`, '--config', join(ROOT, 'apps/api/redocly.yaml'), '--format', 'json']);
  return (JSON.parse(stdout) as { problems: Problem[] }).problems;
}

/** Type-checks a script against the client types generated from the served document (api.d.ts beside it). */
async function typecheck(source: string, name: string) {
  await writeFile(join(dir, `${name}.ts`), source);
  const compilerOptions = { strict: true, noEmit: true, skipLibCheck: true, target: 'es2022', module: 'preserve', moduleResolution: 'bundler', lib: ['es2022', 'dom'], types: [] };
  await writeFile(join(dir, `tsconfig.${name}.json`), JSON.stringify({ compilerOptions, files: [`${name}.ts`] }));
  return tool('tsc', ['-p', `tsconfig.${name}.json`]);
}

beforeAll(async () => {
  api = await startTestApi({ API_PUBLIC_URL: PUBLIC_URL });
  const r = await call<Document>(api.url, 'GET', '/api/openapi.json');
  expect(r.status).toBe(200);
  doc = r.body;
  // Inside the repository (tmp/ is ignored) so that the script finds openapi-fetch in node_modules.
  await mkdir(join(ROOT, 'tmp'), { recursive: true });
  dir = await mkdtemp(join(ROOT, 'tmp', 'openapi-'));
}, 60_000);

afterAll(async () => {
  await api?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the OpenAPI document', () => {
  it('names every operation with a unique operationId and points at the configured URL', () => {
    const ids = Object.values(doc.paths).flatMap((ops) => Object.values(ops).map((op) => op.operationId));
    expect(ids.every((id) => typeof id === 'string' && /^[a-z][A-Za-z0-9]*$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(expect.arrayContaining(['signIn', 'listClusters', 'runQuery']));
    expect(doc.servers).toEqual([{ url: PUBLIC_URL }]);
  });

  it("passes Redocly's recommended rules with nothing to report", async () => {
    expect(await lint(doc, 'document')).toEqual([]);
  }, 60_000);

  it('fails the lint when an operation has no operationId', async () => {
    const broken = structuredClone(doc);
    delete broken.paths['/api/clusters'].get.operationId;
    const problems = await lint(broken, 'no-operation-id');
    expect(problems).toEqual([
      expect.objectContaining({ ruleId: 'operation-operationId', severity: 'error', location: [expect.objectContaining({ pointer: '#/paths/~1api~1clusters/get/operationId' })] }),
    ]);
  }, 60_000);
});

describe('a TypeScript client generated from the document', () => {
  beforeAll(async () => {
    await writeFile(join(dir, 'client-document.json'), JSON.stringify(doc));
    const generated = await tool('openapi-typescript', ['client-document.json', '-o', 'api.d.ts']);
    expect(generated).toMatchObject({ ok: true });
    // Its operations and schemas are named as the document names them, not made up.
    const types = await readFile(join(dir, 'api.d.ts'), 'utf8');
    expect(types).toMatch(/\blistClusters: \{/);
    expect(types).toMatch(/\bClusterView: \{/);
  }, 60_000);

  it('type-checks a script that signs in, lists the clusters and runs a query', async () => {
    expect(await typecheck(await readFile(SAMPLE, 'utf8'), 'sample-client')).toEqual({ ok: true, stdout: '' });
  }, 60_000);

  it('refuses the script when it calls a path the API does not have', async () => {
    const source = (await readFile(SAMPLE, 'utf8')).replace("api.GET('/api/clusters'", "api.GET('/api/clusterz'");
    const checked = await typecheck(source, 'wrong-path');
    expect(checked.ok).toBe(false);
    expect(checked.stdout).toMatch(/wrong-path\.ts\(\d+,\d+\): error TS\d+: .*"\/api\/clusterz"/);
  }, 60_000);
});
