module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'api',
  rootDir: __dirname,
  // Integration tests talk to a real API, PostgreSQL and Redis; leave room for a loaded machine.
  testTimeout: 30_000,
};
