#!/usr/bin/env node
// Entry of `npm run gateway`: runs the agent CLI from source, compiled on the fly by SWC
// (`npx nx build agent` produces dist/apps/agent/src/cli.js for installs that run from a build).
const path = require('node:path');
const root = path.join(__dirname, '..');
// GATEWAY_RUN_FROM=dist runs the build in dist/ instead (`npx nx build agent`), as a deployment would.
const fromDist = process.env.GATEWAY_RUN_FROM === 'dist';
if (!fromDist) {
  process.env.SWC_NODE_PROJECT ??= path.join(root, 'tsconfig.base.json');
  require('@swc-node/register');
}
require(path.join(root, fromDist ? 'dist/apps/agent/src/cli.js' : 'apps/agent/src/cli.ts'))
  .runCli(process.argv)
  .then((code) => {
    process.exitCode = code;
  });
