import { readFileSync } from 'node:fs';
import path from 'node:path';

const root = path.join(__dirname, '../..');

interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  link?: boolean;
}

/**
 * Lockfile entries that an install elsewhere would fetch unpinned: every package (platform binaries for other
 * systems included) must say where it came from and what its tarball hashes to. Workspace links have neither.
 */
export function unpinnedEntries(lock: { packages: Record<string, LockEntry> }): string[] {
  return Object.entries(lock.packages)
    .filter(([where, entry]) => where !== '' && !entry.link)
    .filter(([, entry]) => !entry.resolved || !entry.integrity || !/^sha512-/.test(entry.integrity))
    .map(([where, entry]) => `${where}@${entry.version ?? '?'}: ${!entry.resolved ? 'no resolved' : 'no sha512 integrity'}`);
}

describe('package-lock.json', () => {
  const lock = JSON.parse(readFileSync(path.join(root, 'package-lock.json'), 'utf8'));

  it('pins every package with resolved and a sha512 integrity', () => {
    expect(unpinnedEntries(lock)).toEqual([]);
  });

  it('holds the platform binaries of other systems too (npm skips them here by os/cpu)', () => {
    expect(lock.packages['node_modules/@swc/core-darwin-arm64']).toMatchObject({ os: ['darwin'], cpu: ['arm64'] });
    expect(lock.packages['node_modules/@swc/core-win32-x64-msvc']?.resolved).toMatch(/^https:\/\/registry\.npmjs\.org\//);
  });

  it('comes from a registry setting that keeps resolved (the project .npmrc overrides a user-level omit)', () => {
    expect(readFileSync(path.join(root, '.npmrc'), 'utf8')).toMatch(/^omit-lockfile-registry-resolved=false$/m);
  });

  it('the check itself fails on an entry without resolved or integrity', () => {
    const broken = {
      packages: {
        '': {},
        'node_modules/a': { version: '1.0.0', integrity: 'sha512-x' },
        'node_modules/b': { version: '2.0.0', resolved: 'https://registry.npmjs.org/b/-/b-2.0.0.tgz' },
        'node_modules/c': { version: '3.0.0', resolved: 'https://registry.npmjs.org/c/-/c-3.0.0.tgz', integrity: 'sha1-x' },
        'node_modules/@gateway/x': { link: true },
      },
    };
    expect(unpinnedEntries(broken)).toEqual(['node_modules/a@1.0.0: no resolved', 'node_modules/b@2.0.0: no sha512 integrity', 'node_modules/c@3.0.0: no sha512 integrity']);
  });
});
