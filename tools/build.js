#!/usr/bin/env node
// Compiles a project (and, for apps, the libs it may import) from TypeScript to CommonJS under dist/,
// mirroring the repository layout so that the tsconfig path aliases rewrite to working relative imports.
// Usage: node tools/build.js apps/api
const fs = require('node:fs');
const path = require('node:path');
const swc = require('@swc/core');
const { compilerOptions } = require('../tsconfig.base.json');

const root = path.resolve(__dirname, '..');
const project = process.argv[2];
if (!project || !fs.existsSync(path.join(root, project, 'src'))) {
  console.error('usage: node tools/build.js <project dir>, e.g. apps/api');
  process.exit(2);
}
const roots = [project, ...(project.startsWith('apps/') ? ['libs/domain', 'libs/routing'] : [])];

function* sources(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* sources(full);
    else if (/\.tsx?$/.test(entry.name) && !/\.(spec|int-spec)\.ts$/.test(entry.name) && !entry.name.endsWith('.d.ts')) yield full;
  }
}

let count = 0;
for (const r of roots) {
  for (const file of sources(path.join(root, r, 'src'))) {
    const out = path.join(root, 'dist', path.relative(root, file)).replace(/\.tsx?$/, '.js');
    const { code, map } = swc.transformFileSync(file, {
      sourceMaps: true,
      jsc: {
        parser: { syntax: 'typescript', decorators: true, tsx: file.endsWith('.tsx') },
        transform: { legacyDecorator: true, decoratorMetadata: true },
        target: 'es2022',
        baseUrl: root,
        paths: compilerOptions.paths,
      },
      module: { type: 'commonjs' },
    });
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, code);
    if (map) fs.writeFileSync(`${out}.map`, map);
    count += 1;
  }
}
// The API applies its migrations at start: ship them beside the compiled code.
if (project === 'apps/api') fs.cpSync(path.join(root, 'apps/api/prisma/migrations'), path.join(root, 'dist/apps/api/prisma/migrations'), { recursive: true });
console.log(`built ${count} files of ${roots.join(', ')} into dist/`);
