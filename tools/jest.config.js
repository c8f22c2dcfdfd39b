// Workspace-level checks that belong to no single project (e.g. the module boundary rules).
module.exports = {
  ...require('../jest.preset.js'),
  displayName: 'workspace',
  rootDir: __dirname,
};
