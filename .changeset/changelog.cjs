// Changelog lines: changesets' own for changes; one line for the workspace
// packages a release was rebuilt against (the default repeats "Updated
// dependencies" once per changeset that moved them).
const { default: base } = require('@changesets/cli/changelog');

module.exports = {
  getReleaseLine: base.getReleaseLine,
  async getDependencyReleaseLine(_changesets, dependencies) {
    if (dependencies.length === 0) return '';
    const list = dependencies.map((d) => `\`${d.name}@${d.newVersion}\``).join(', ');
    return `- Updated dependencies: ${list}`;
  },
};
