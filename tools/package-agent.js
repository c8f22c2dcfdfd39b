#!/usr/bin/env node
// Builds the agent's npm package (`npx nx run agent:package`, `npm run package:agent`):
// dist/agent/gateway-agent-<version>.tgz, installable with `npm install -g` on a host that has Node and nothing else.
// The agent and its command line are bundled into one file with esbuild; only what cannot be bundled stays a
// dependency: @node-rs/argon2 (prebuilt native binaries from the registry) and, optionally, better-sqlite3 (native;
// without it Node 22.13+ reads SQLite with node:sqlite).
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const esbuild = require('esbuild');

const root = path.join(__dirname, '..');
const out = path.join(root, 'dist/agent');
const stage = path.join(out, 'package');
const rootPkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
// libs/domain's VERSION, which a test keeps equal to package.json's.
const version = rootPkg.version;
const NATIVE = ['@node-rs/argon2', 'better-sqlite3'];
const pinned = (name) => {
  const v = rootPkg.dependencies?.[name] ?? rootPkg.devDependencies?.[name];
  if (!v) throw new Error(`package.json does not pin ${name}`);
  return v;
};

async function main() {
  fs.rmSync(stage, { recursive: true, force: true });
  fs.mkdirSync(stage, { recursive: true });
  const result = await esbuild.build({
    entryPoints: [path.join(root, 'apps/agent/src/cli.ts')],
    outfile: path.join(stage, 'gateway.js'),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    tsconfig: path.join(root, 'tsconfig.base.json'),
    // Native modules, and pg's optional native driver, which the agent does not use.
    external: [...NATIVE, 'pg-native'],
    sourcemap: true,
    sourcesContent: false,
    legalComments: 'linked',
    metafile: true,
    logLevel: 'warning',
  });
  fs.chmodSync(path.join(stage, 'gateway.js'), 0o755);
  const pkg = {
    name: 'gateway-agent',
    version,
    description: 'The agent of the on-premises data gateway: connects outbound to the control plane and serves live queries and refreshes from local data sources',
    license: rootPkg.license ?? 'UNLICENSED',
    bin: { gateway: 'gateway.js' },
    main: 'gateway.js',
    files: ['gateway.js', 'gateway.js.map', 'gateway.js.LEGAL.txt', 'README.md'],
    engines: { node: '^20.11.0 || ^22.0.0 || ^24.0.0' },
    dependencies: { '@node-rs/argon2': pinned('@node-rs/argon2') },
    optionalDependencies: { 'better-sqlite3': pinned('better-sqlite3') },
  };
  fs.writeFileSync(path.join(stage, 'package.json'), JSON.stringify(pkg, null, 2) + '\n');
  fs.copyFileSync(path.join(__dirname, 'agent-package/README.md'), path.join(stage, 'README.md'));
  for (const f of fs.readdirSync(out)) if (/^gateway-agent-.*\.tgz$/.test(f)) fs.rmSync(path.join(out, f));
  execFileSync('npm', ['pack', '--silent', '--pack-destination', out], { cwd: stage, stdio: ['ignore', 'ignore', 'inherit'] });
  const tgz = path.join(out, `gateway-agent-${version}.tgz`);
  const bundled = fs.statSync(path.join(stage, 'gateway.js')).size;
  const inputs = Object.keys(result.metafile.inputs).length;
  console.log(`${path.relative(root, tgz)}: ${(fs.statSync(tgz).size / 1024 / 1024).toFixed(1)} MB packed; gateway.js ${(bundled / 1024 / 1024).toFixed(1)} MB from ${inputs} modules`);
}

main().catch((e) => {
  console.error(`package-agent: ${e.message}`);
  process.exit(1);
});
