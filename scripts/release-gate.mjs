// The gate publishing cannot skip: each public package's `prepublishOnly`
// runs `node ../../scripts/release-gate.mjs`, which passes only when
// `pnpm release:check` passed on this very commit, with a clean tree
// (release-check.mjs records the commit in .release-check-passed). So
// `changeset publish`, `pnpm publish` or `npm publish` run by hand all stop
// unless the build, tests, pack check, publint, attw and changeset status
// passed on exactly what is being published.
//   node scripts/release-gate.mjs          check (exit 1 with the reason)
//   node scripts/release-gate.mjs --record record a pass (release-check.mjs does it)
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const stamp = join(root, '.release-check-passed');
const git = (...args) => execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();

function state() {
  const dirty = git('status', '--porcelain', '--untracked-files=no');
  return { commit: git('rev-parse', 'HEAD'), clean: dirty === '' };
}

const now = state();
if (process.argv.includes('--record')) {
  if (now.clean) writeFileSync(stamp, `${now.commit}\n`);
  else console.log('release gate: the tree has uncommitted changes, so this pass opens no gate');
  process.exit(0);
}
const passed = existsSync(stamp) ? readFileSync(stamp, 'utf8').trim() : null;
const reason = !now.clean
  ? 'the tree has uncommitted changes'
  : passed !== now.commit
    ? `\`pnpm release:check\` has not passed on this commit (${now.commit.slice(0, 12)})`
    : null;
if (reason !== null) {
  console.error(
    `release gate: not publishing: ${reason}. Run \`pnpm release\`, which checks first.`,
  );
  process.exit(1);
}
