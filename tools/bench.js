#!/usr/bin/env node
// `npm run bench`: the gateway's benchmarks (apps/agent/bench), run from source against the local services.
const path = require('node:path');
const root = path.join(__dirname, '..');
process.env.SWC_NODE_PROJECT ??= path.join(root, 'tsconfig.base.json');
require('@swc-node/register');
require(path.join(root, 'apps/agent/bench/gateway.bench.ts'))
  .main(process.argv.slice(2))
  .then(() => process.exit(0))
  .catch((e) => {
    console.error(`bench: ${e?.stack ?? e}`);
    process.exit(1);
  });
