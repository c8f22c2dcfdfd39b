#!/usr/bin/env node
// Entry of `npm run gateway`: runs the agent CLI from source, compiled on the fly by SWC
// (`npx nx build agent` produces dist/apps/agent/src/cli.js for installs that run from a build).
const path = require('node:path');
const root = path.join(__dirname, '..');
process.env.SWC_NODE_PROJECT ??= path.join(root, 'tsconfig.base.json');
require('@swc-node/register');
require(path.join(root, 'apps/agent/src/cli.ts'))
  .runCli(process.argv)
  .then((code) => {
    process.exitCode = code;
  });
