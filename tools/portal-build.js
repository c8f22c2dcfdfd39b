// The portal's production build for `npm start`: `next build apps/web` only when the portal's inputs changed since
// the last build. The inputs are apps/web (less its build output, screenshots and tests), the libs it imports
// (found from its `@gateway/*` imports through tsconfig.base.json's paths, and theirs in turn), tsconfig.base.json
// and package-lock.json. Their hash is kept next to the build, in apps/web/.next/, with the build's id: a build made
// by anything else (`nx build web`, the e2e test) has another id or removes the file, so it is never taken for ours.
const { spawn } = require('node:child_process');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const STAMP = 'gateway-inputs.json';
/** Not portal sources: the build itself, what tests write, and the tests. */
const SKIP_DIRS = new Set(['.next', 'node_modules', 'screenshots', 'e2e', 'coverage']);
const SKIP_FILE = /(\.spec\.tsx?|\.tsbuildinfo|^next-env\.d\.ts)$/;

function files(dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name)) out.push(...files(path.join(dir, entry.name)));
    } else if (entry.isFile() && !SKIP_FILE.test(entry.name)) {
      out.push(path.join(dir, entry.name));
    }
  }
  return out;
}

/** The lib folders (libs/<name>) that `dirs` import, transitively, through the `@gateway/*` path aliases. */
function importedLibs(root, dirs) {
  const aliases = JSON.parse(fs.readFileSync(path.join(root, 'tsconfig.base.json'), 'utf8')).compilerOptions?.paths ?? {};
  const libOf = (alias) => {
    const target = aliases[alias]?.[0];
    const m = target && /^(libs\/[^/]+)\//.exec(target);
    return m ? m[1] : null;
  };
  const found = new Set();
  const queue = [...dirs];
  while (queue.length) {
    for (const file of files(path.join(root, queue.shift()))) {
      if (!/\.(m?[jt]sx?)$/.test(file)) continue;
      for (const [, spec] of fs.readFileSync(file, 'utf8').matchAll(/from\s+['"](@gateway\/[^'"]+)['"]/g)) {
        const lib = libOf(spec);
        if (lib && !found.has(lib)) {
          found.add(lib);
          queue.push(lib);
        }
      }
    }
  }
  return [...found].sort();
}

/** Hash of everything the portal's build reads from this checkout. */
function portalInputsHash(root) {
  const dirs = ['apps/web', ...importedLibs(root, ['apps/web'])];
  const list = [...dirs.flatMap((d) => files(path.join(root, d))), path.join(root, 'tsconfig.base.json'), path.join(root, 'package-lock.json')]
    .map((f) => path.relative(root, f).split(path.sep).join('/'))
    .sort();
  const hash = createHash('sha256');
  for (const rel of list) {
    hash.update(`${rel}\0`);
    hash.update(fs.readFileSync(path.join(root, rel)));
    hash.update('\0');
  }
  return { hash: hash.digest('hex'), dirs };
}

function readStamp(distDir) {
  try {
    const stamp = JSON.parse(fs.readFileSync(path.join(distDir, STAMP), 'utf8'));
    const buildId = fs.readFileSync(path.join(distDir, 'BUILD_ID'), 'utf8').trim();
    return stamp.buildId === buildId ? stamp : null;
  } catch {
    return null;
  }
}

/**
 * Makes sure apps/web/.next holds a production build of the current sources; resolves to 'built' or 'up to date'.
 * The build's own output is shown only when it fails, so the start-up lines stay readable. `onSpawn` gets the build
 * process (so Ctrl-C can stop it).
 */
async function ensurePortalBuild(root, env, { log = console.log, onSpawn = () => undefined } = {}) {
  const distDir = path.join(root, 'apps/web/.next');
  const { hash } = portalInputsHash(root);
  if (readStamp(distDir)?.hash === hash) {
    log('  portal: production build up to date (sources unchanged since the last build), not rebuilding');
    return 'up to date';
  }
  log('  portal: building it for production (next build apps/web: its sources changed since the last build, or there is none)');
  const started = Date.now();
  await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [require.resolve('next/dist/bin/next'), 'build', 'apps/web'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    onSpawn(child);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`next build apps/web failed (${signal ?? code}):\n${out}`))));
  });
  const buildId = fs.readFileSync(path.join(distDir, 'BUILD_ID'), 'utf8').trim();
  fs.writeFileSync(path.join(distDir, STAMP), JSON.stringify({ hash, buildId }, null, 2));
  log(`  portal: built in ${Math.round((Date.now() - started) / 1000)} s`);
  return 'built';
}

module.exports = { ensurePortalBuild, portalInputsHash };
