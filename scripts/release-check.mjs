// The checks a release must pass on what would be published, beyond the tests
// and scripts/pack-check.mjs (which run the tarballs): for each public package,
// packed as `pnpm publish` packs it,
//   - publint --strict and attw (--profile esm-only: the packages are ESM, and
//     CommonJS consumers use require(esm), in Node 20.19+, 22.12+, 24, 26);
//   - the tarball holds LICENSE, README.md and package.json, no `workspace:`
//     range, and the metadata a registry page needs (repository with this
//     directory, homepage, bugs, license, engines);
//   - its README has no relative link (dead on the registry's page);
// then `changeset status` (the pending changesets are valid, and a package
// at X.Y.Z-0 is released as X.Y.Z), and the
// prebuilt binaries transport-unix must ship (linux-x64 and linux-arm64).
// Exits non-zero with one line per problem; on success, records the commit
// for the publish gate (scripts/release-gate.mjs). `pnpm release:check` runs
// the build, typecheck, lint, architecture rules, tests and pack check first.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const bin = (name) => join(root, 'node_modules', '.bin', name);
const pnpm = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).packageManager;
const work = mkdtempSync(join(tmpdir(), 'socketserver-release-'));
const problems = [];
const run = (cmd, args, cwd = root) =>
  execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** Runs a check; its failure (with the tool's output) is one problem, not the end of the run. */
function attempt(what, cmd, args, cwd) {
  try {
    run(cmd, args, cwd);
  } catch (error) {
    problems.push(
      `${what}: ${`${error.stdout ?? ''}${error.stderr ?? ''}`.trim() || error.message}`,
    );
  }
}

function publicPackages() {
  return ['packages', 'apps']
    .flatMap((group) => readdirSync(join(root, group)).map((name) => join(group, name)))
    .filter((dir) => existsSync(join(root, dir, 'package.json')))
    .map((dir) => ({
      dir,
      manifest: JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8')),
    }))
    .filter(({ manifest }) => manifest.private !== true);
}

function checkManifest(dir, manifest) {
  const repository = manifest.repository ?? {};
  if (repository.directory !== dir) problems.push(`${dir}: repository.directory is not "${dir}"`);
  for (const field of ['license', 'homepage', 'bugs', 'engines', 'description']) {
    if (!manifest[field]) problems.push(`${dir}: package.json has no ${field}`);
  }
  const readme = readFileSync(join(root, dir, 'README.md'), 'utf8');
  const relative = readme.match(/\]\((?!https?:|#|mailto:)[^)]+\)/g);
  if (relative)
    problems.push(
      `${dir}: README has relative links (dead on the registry): ${relative.join(' ')}`,
    );
}

function checkTarball(dir, tarball) {
  const files = run('tar', ['-tzf', tarball]).split('\n');
  for (const file of ['package/LICENSE', 'package/README.md', 'package/package.json']) {
    if (!files.includes(file)) problems.push(`${dir}: the tarball has no ${file.slice(8)}`);
  }
  const manifest = run('tar', ['-xzOf', tarball, 'package/package.json']);
  if (manifest.includes('workspace:'))
    problems.push(`${dir}: a workspace: range reached the tarball`);
  attempt(`${dir}: publint`, bin('publint'), ['--strict', tarball]);
  attempt(`${dir}: attw`, bin('attw'), [tarball, '--profile', 'esm-only', '--format', 'ascii']);
}

/**
 * A package not yet released (version `X.Y.Z-0`) must leave `changeset
 * version` as `X.Y.Z`: its first release is that version, with one entry.
 */
function checkFirstReleases(packages) {
  const statusFile = join(work, 'changeset-status.json');
  attempt('changeset status', bin('changeset'), ['status', `--output=${statusFile}`]);
  if (!existsSync(statusFile)) return;
  const planned = new Map(
    JSON.parse(readFileSync(statusFile, 'utf8')).releases.map((r) => [r.name, r.newVersion]),
  );
  for (const { dir, manifest } of packages) {
    const [first, pre] = manifest.version.split('-');
    if (pre === undefined) continue;
    const next = planned.get(manifest.name);
    if (next !== first)
      problems.push(
        `${dir}: ${manifest.version} should be released as ${first}; changesets plan ${next ?? 'no release'}`,
      );
  }
}

try {
  checkFirstReleases(publicPackages());
  for (const { dir, manifest } of publicPackages()) {
    checkManifest(dir, manifest);
    const out = mkdtempSync(join(work, 'pack-'));
    run('npx', ['-y', pnpm, 'pack', '--pack-destination', out], join(root, dir));
    const [tarball] = readdirSync(out);
    checkTarball(dir, join(out, tarball));
    console.log(`${manifest.name}@${manifest.version}: checked`);
  }
  attempt('transport-unix prebuilt binaries', process.execPath, [
    join(root, 'packages', 'transport-unix', 'scripts', 'build-native.mjs'),
    '--require',
  ]);
} finally {
  rmSync(work, { recursive: true, force: true });
}
for (const problem of problems) console.error(`release check: ${problem}`);
if (problems.length > 0) {
  console.log(`release check: ${problems.length} problem(s)`);
  process.exit(1);
}
// Opens the gate each package's prepublishOnly checks (scripts/release-gate.mjs).
run(process.execPath, [join(root, 'scripts', 'release-gate.mjs'), '--record']);
console.log('release check passed');
