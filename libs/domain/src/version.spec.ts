import { VERSION } from './version';

it('reports the version in package.json', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  expect(VERSION).toBe(require('../../../package.json').version);
});
