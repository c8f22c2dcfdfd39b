import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseVersion, VERSION, versionStanding } from './version';

it('reports the version in package.json', () => {
  expect(VERSION).toBe(JSON.parse(readFileSync(join(__dirname, '../../../package.json'), 'utf8')).version);
});

describe('versionStanding', () => {
  it.each([
    ['0.1.0', '0.1.3', 'current'],
    ['0.1.7', '0.1.0', 'current'],
    ['0.0.9', '0.1.0', 'previous'],
    ['0.9.2', '1.0.0', 'previous'],
    ['1.4.0', '1.6.1', 'outdated'],
    ['0.8.0', '1.0.0', 'previous'],
    ['0.2.0', '0.1.0', 'newer'],
    ['dev', '0.1.0', 'outdated'],
  ] as const)('agent %s against control plane %s is %s', (agent, cp, standing) => {
    expect(versionStanding(agent, cp)).toBe(standing);
  });

  it('reads major.minor.patch, with or without a v and a suffix', () => {
    expect(parseVersion('v1.2.3-rc.1')).toEqual([1, 2, 3]);
    expect(parseVersion('1.2')).toBeNull();
  });
});
