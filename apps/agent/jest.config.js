module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'agent',
  rootDir: __dirname,
  // These tests drive real processes (API, agents, CLI runs of about a second each); on a loaded machine a
  // few CLI runs take longer than jest's default 5 s.
  testTimeout: 60_000,
};
