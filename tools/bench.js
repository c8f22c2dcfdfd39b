#!/usr/bin/env node
// `npm run bench [-- live|refresh|pg|scale] [options]`: the gateway's benchmarks (apps/agent/bench), run from source
// against the local services. Without a name, all of them, one after the other.
const path = require('node:path');
const root = path.join(__dirname, '..');
process.env.SWC_NODE_PROJECT ??= path.join(root, 'tsconfig.base.json');
require('@swc-node/register');

const benches = { live: 'gateway.bench.ts', refresh: 'refresh.bench.ts', pg: 'pg.bench.ts', scale: 'scale.bench.ts' };
const args = process.argv.slice(2);
const chosen = args[0] && !args[0].startsWith('--') ? [args.shift()] : Object.keys(benches);

(async () => {
  for (const name of chosen) {
    if (!benches[name]) throw new Error(`unknown benchmark "${name}": use ${Object.keys(benches).join(' or ')}`);
    console.log(`\n== ${name}`);
    await require(path.join(root, 'apps/agent/bench', benches[name])).main(args);
  }
})()
  .then(() => process.exit(0))
  .catch((e) => {
    console.error(`bench: ${e?.message ?? e}`);
    process.exit(1);
  });
