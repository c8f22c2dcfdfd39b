#!/usr/bin/env node
// Runs `prisma generate` for apps/api. Prisma Client 7 needs no engine binary, but the CLI insists on
// locating a schema engine; where none can be downloaded we point it at a stub that is never executed
// for `generate`. A real engine (PRISMA_SCHEMA_ENGINE_BINARY already set) is left alone.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const env = { ...process.env, PRISMA_HIDE_UPDATE_MESSAGE: '1', CHECKPOINT_DISABLE: '1', PRISMA_ENGINES_CHECKSUM_IGNORE_MISSING: '1' };
if (!env.PRISMA_SCHEMA_ENGINE_BINARY) {
  const stub = path.join(os.tmpdir(), 'gateway-prisma-schema-engine-stub');
  fs.writeFileSync(stub, '#!/bin/sh\necho "schema engine not available on this machine" >&2\nexit 1\n', { mode: 0o755 });
  env.PRISMA_SCHEMA_ENGINE_BINARY = stub;
}
const cli = require.resolve('prisma/build/index.js');
execFileSync(process.execPath, [cli, 'generate'], { cwd: path.join(__dirname, '../apps/api'), env, stdio: 'inherit' });
