import { execFileSync } from 'node:child_process';
import path from 'node:path';

const root = path.join(__dirname, '../..');

// The boundary rule reads Nx's project graph; computing it here means the rule cannot be silently skipped.
beforeAll(() => {
  execFileSync(process.execPath, [require.resolve('nx/bin/nx.js'), 'show', 'projects'], { cwd: root, env: { ...process.env, NX_DAEMON: 'false' }, stdio: 'ignore' });
}, 120_000);

/** Lints source text as if it were the given file, with the workspace's real ESLint CLI and config. */
async function boundaryErrors(file: string, code: string): Promise<string[]> {
  let output: string;
  try {
    output = execFileSync(process.execPath, [path.join(root, 'node_modules/eslint/bin/eslint.js'), '--format', 'json', '--stdin', '--stdin-filename', file], { cwd: root, input: code, encoding: 'utf8' });
  } catch (e) {
    output = (e as { stdout: string }).stdout; // exit 1 when there are lint errors
  }
  const [result] = JSON.parse(output) as { messages: { ruleId: string | null; message: string }[] }[];
  return result.messages.filter((m) => m.ruleId === '@nx/enforce-module-boundaries').map((m) => m.message);
}

describe('module boundaries', () => {
  it.each([
    ['a lib importing an app', 'libs/domain/src/violation.ts', "import { createApp } from '../../../apps/api/src/app';\nexport const x = createApp;"],
    ['a lib importing NestJS', 'libs/domain/src/violation.ts', "import { Injectable } from '@nestjs/common';\nexport const x = Injectable;"],
    ['a lib importing Next', 'libs/routing/src/violation.ts', "import Link from 'next/link';\nexport const x = Link;"],
    ['a lib importing Prisma', 'libs/domain/src/violation.ts', "import { PrismaClient } from '@prisma/client';\nexport const x = PrismaClient;"],
    ['a lib importing BullMQ', 'libs/domain/src/violation.ts', "import { Queue } from 'bullmq';\nexport const x = Queue;"],
    ['an app importing another app', 'apps/agent/src/violation.ts', "import { createApp } from '../../api/src/app';\nexport const x = createApp;"],
    ['routing importing a package', 'libs/routing/src/violation.ts', "import { z } from 'zod';\nexport const x = z;"],
    ['the domain importing routing', 'libs/domain/src/violation.ts', "import { route } from '@gateway/routing';\nexport const x = route;"],
    ["an app's source importing the test support", 'apps/api/src/violation.ts', "import { eventually } from '@gateway/testing';\nexport const x = eventually;"],
    ["the portal's source importing the test support", 'apps/web/app/violation.tsx', "import { sleep } from '@gateway/testing';\nexport const x = sleep;"],
    ["a lib's source importing the test support", 'libs/domain/src/violation.ts', "import { eventually } from '@gateway/testing';\nexport const x = eventually;"],
    ['the test support importing an app', 'libs/testing/src/violation.ts', "import { createApp } from '../../../apps/api/src/app';\nexport const x = createApp;"],
  ])('fails the lint on %s', async (_label, file, code) => {
    expect((await boundaryErrors(file, code)).length).toBeGreaterThan(0);
  }, 60_000);

  it.each([
    ['routing importing the domain', 'libs/routing/src/ok.ts', "import { DEFAULT_ROUTING } from '@gateway/domain';\nexport const x = DEFAULT_ROUTING;"],
    ['an app importing both libs', 'apps/api/src/ok.ts', "import { DEFAULT_ROUTING } from '@gateway/domain';\nimport { route } from '@gateway/routing';\nexport const x = [DEFAULT_ROUTING, route];"],
    ['an integration test importing the test support', 'apps/agent/test/ok.int-spec.ts', "import { eventually } from '@gateway/testing';\nexport const x = eventually;"],
    ["the portal's end-to-end test importing the test support", 'apps/web/e2e/ok.e2e-spec.ts', "import { startApiProcess } from '@gateway/testing';\nexport const x = startApiProcess;"],
    ["a lib's unit test importing the test support", 'libs/domain/src/ok.spec.ts', "import { eventually } from '@gateway/testing';\nexport const x = eventually;"],
    ['the test support importing a lib', 'libs/testing/src/ok.ts', "import { DEFAULT_ROUTING } from '@gateway/domain';\nexport const x = DEFAULT_ROUTING;"],
  ])('allows %s', async (_label, file, code) => {
    expect(await boundaryErrors(file, code)).toEqual([]);
  }, 60_000);
});
