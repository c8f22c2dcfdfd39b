#!/usr/bin/env node
// `npm start`: brings up everything that exists: the API (which creates and migrates its database)
// and the admin portal. Ctrl-C stops both cleanly.
const { spawn } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');
const apiPort = process.env.API_PORT ?? '3000';
const webPort = process.env.WEB_PORT ?? '3001';
const env = { ...process.env, API_PORT: apiPort, NEXT_TELEMETRY_DISABLED: '1', API_URL: `http://127.0.0.1:${apiPort}` };

const children = [];
let stopping = false;

function run(name, args) {
  const child = spawn(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'inherit', 'inherit'] });
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`start: ${name} exited (${signal ?? code}); stopping everything`);
      stop(code || 1);
    }
  });
  children.push(child);
  return child;
}

function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  const deadline = setTimeout(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    process.exit(code);
  }, 10_000);
  Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : null))).then(() => {
    clearTimeout(deadline);
    process.exit(code);
  });
}

process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));

run('api', [path.join(root, 'tools/run-api.js')]);
run('web', [require.resolve('next/dist/bin/next'), 'dev', 'apps/web', '--port', webPort, '--hostname', '127.0.0.1']);

console.log(`
  API:          http://127.0.0.1:${apiPort}/api/health
  API explorer: http://127.0.0.1:${apiPort}/api/docs
  Portal:       http://127.0.0.1:${webPort}
  Create the first account:  curl -X POST http://127.0.0.1:${apiPort}/api/auth/signup -H 'content-type: application/json' -d '{"email":"you@example.com","password":"at least 10 characters"}'
  Ctrl-C stops everything.
`);
