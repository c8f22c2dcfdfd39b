#!/usr/bin/env node
// `npm run bench [-- live|refresh|pg|scale|compare] [options]`: the gateway's benchmarks (apps/agent/bench), run from
// source against the local services. Without a name, the first four, one after the other (`compare` measures this
// tree's live path against another commit's, side by side: `npm run bench -- compare --ref HEAD~1`).
const path = require('node:path');
const root = path.join(__dirname, '..');
process.env.SWC_NODE_PROJECT ??= path.join(root, 'tsconfig.base.json');
require('@swc-node/register');

const benches = { live: 'gateway.bench.ts', refresh: 'refresh.bench.ts', pg: 'pg.bench.ts', scale: 'scale.bench.ts', compare: 'compare.bench.ts' };
const byDefault = ['live', 'refresh', 'pg', 'scale'];
const args = process.argv.slice(2);
const chosen = args[0] && !args[0].startsWith('--') ? [args.shift()] : byDefault;

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
