// The architecture's import rules (run by CI after the build: `pnpm check:architecture`).
// Workspace packages are imported by name and resolve to their built dist/.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'core-stands-alone',
      comment: 'core imports node: builtins only: no transport, mix-in, app or bench.',
      severity: 'error',
      from: { path: '^packages/core/src' },
      to: { path: '^(packages/(?!core/)|apps/|bench/)' },
    },
    {
      name: 'transports-and-mixins-need-only-core',
      comment:
        'A transport or mix-in imports core and nothing else of the workspace: the transports are ' +
        'independent of each other, the mix-ins of each other and of the transports.',
      severity: 'error',
      from: { path: '^packages/((?:transport|mixin)-[^/]+)/src' },
      to: { path: '^(packages/(?!core/|$1/)|apps/|bench/)' },
    },
    {
      name: 'http-needs-only-core',
      comment:
        '@socketserver/http imports core and nothing else of the workspace: the user picks the ' +
        'transport and the mode, so no transport or mix-in comes along with it.',
      severity: 'error',
      from: { path: '^packages/http/src' },
      to: { path: '^(packages/(?!core/|http/)|apps/|bench/)' },
    },
    {
      name: 'packages-only-by-name',
      comment:
        'Another package is imported by its name (its published entry), never by a path into its sources.',
      severity: 'error',
      from: { path: '^(?:packages|apps|examples)/([^/]+)/|^bench/' },
      to: { path: '^packages/[^/]+/src/', pathNot: '^packages/$1/src/' },
    },
    {
      name: 'nothing-imports-an-app',
      comment: 'Apps are leaves: no package, example or bench imports one.',
      severity: 'error',
      from: { path: '^(packages|examples|bench)/' },
      to: { path: '^apps/' },
    },
    {
      name: 'nothing-imports-an-example',
      comment: 'Examples are leaves, written to be copied: nothing else imports one, nor one another.',
      severity: 'error',
      from: { path: '^(?:packages/|apps/|bench/|examples/([^/]+)/)' },
      to: { path: '^examples/', pathNot: '^examples/$1/' },
    },
    {
      name: 'apps-are-independent',
      comment: 'An app imports no other app.',
      severity: 'error',
      from: { path: '^apps/([^/]+)/' },
      to: { path: '^apps/', pathNot: '^apps/$1/' },
    },
    {
      name: 'declared-dependencies-only',
      comment: 'What src imports from node_modules is in its package.json dependencies.',
      severity: 'error',
      from: { path: '^(packages|apps|examples)/[^/]+/src|^bench/src' },
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown', 'npm-dev'] },
    },
    {
      name: 'no-unresolvable',
      comment:
        "Every import resolves, but core's host runtime: a virtual module its build makes " +
        '(packages/core/build/host-runtime.ts bundles src/host/runtime into a string).',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true, pathNot: '^virtual:socketserver-host-runtime$' },
    },
  ],
  options: {
    // A workspace package resolves to its built dist/: kept as a module (so the rules above see
    // which package an import reaches), not followed into.
    doNotFollow: { path: '(^|/)(dist|node_modules)/' },
    exclude: { path: '(^|/)(test|node_modules)/' },
    tsPreCompilationDeps: true,
    combinedDependencies: false,
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'node', 'default'],
      mainFields: ['module', 'main'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.json'],
    },
  },
};
