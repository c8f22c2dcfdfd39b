#!/usr/bin/env node
// Entry of `npm run api`: runs the API from source, compiled on the fly by SWC (decorator metadata included).
const path = require('node:path');
const root = path.join(__dirname, '..');
// GATEWAY_RUN_FROM=dist runs the build in dist/ instead (`npx nx build api`), as a deployment would.
if (process.env.GATEWAY_RUN_FROM === 'dist') {
  require(path.join(root, 'dist/apps/api/src/main.js'));
} else {
  process.env.SWC_NODE_PROJECT ??= path.join(root, 'tsconfig.base.json');
  require('@swc-node/register');
  require(path.join(root, 'apps/api/src/main.ts'));
}
