#!/usr/bin/env node
// Compiles native/unix_dgram.c (a Node-API addon: one binary for every Node.js
// line) into prebuilds/<platform>-<arch>[-<libc>]/unix_dgram.node, with the C
// compiler and the Node.js headers found on this machine. No node-gyp, no
// download.
//
//   node scripts/build-native.mjs             host binary; cross-compiles linux-arm64
//                                             too when aarch64-linux-gnu-gcc is there
//   node scripts/build-native.mjs --require   fail unless the linux-x64 and linux-arm64
//                                             binaries are built (the release check)
//
// Without a compiler or headers it says so in one line and exits 0: everything
// but the Unix datagram classes works without the addon (NativeAddonMissingError).
// Headers: $npm_config_nodedir/include/node, then <node>/../include/node, then
// /usr/include/node and /usr/local/include/node. Compiler: $CC, then cc, gcc, clang.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'native', 'unix_dgram.c');
const required = process.argv.includes('--require');

function findHeaders() {
  const dirs = [
    process.env.npm_config_nodedir && join(process.env.npm_config_nodedir, 'include', 'node'),
    join(dirname(process.execPath), '..', 'include', 'node'),
    '/usr/include/node',
    '/usr/local/include/node',
  ].filter(Boolean);
  return dirs.find((dir) => existsSync(join(dir, 'node_api.h')) && existsSync(join(dir, 'uv.h')));
}

function works(command) {
  try {
    execFileSync(command, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The libc suffix of a Linux target: glibc unless the host compiler targets musl. */
function libcOf(compiler) {
  try {
    const machine = execFileSync(compiler, ['-dumpmachine'], { encoding: 'utf8' });
    return machine.includes('musl') ? 'musl' : 'gnu';
  } catch {
    return 'gnu';
  }
}

function targets() {
  const host = [process.env.CC, 'cc', 'gcc', 'clang'].filter(Boolean).find(works);
  if (host === undefined) return [];
  const platform = process.platform;
  const list = [];
  const hostName =
    platform === 'linux' ? `linux-${process.arch}-${libcOf(host)}` : `${platform}-${process.arch}`;
  list.push({ name: hostName, compiler: host });
  if (platform === 'linux' && process.arch === 'x64' && works('aarch64-linux-gnu-gcc')) {
    list.push({ name: 'linux-arm64-gnu', compiler: 'aarch64-linux-gnu-gcc' });
  }
  return list;
}

function build({ name, compiler }, headers) {
  const outDir = join(root, 'prebuilds', name);
  mkdirSync(outDir, { recursive: true });
  const out = join(outDir, 'unix_dgram.node');
  const partial = `${out}.tmp`;
  const link =
    process.platform === 'darwin' ? ['-bundle', '-undefined', 'dynamic_lookup'] : ['-shared'];
  execFileSync(
    compiler,
    [
      ...['-std=c11', '-D_GNU_SOURCE', '-O2', '-fPIC', '-fvisibility=hidden'],
      ...['-Wall', '-Wextra', '-Werror', '-s', `-I${headers}`],
      ...link,
      ...['-o', partial, source],
    ],
    { stdio: 'inherit' },
  );
  // Renamed into place whole: a running process never loads a half-written file.
  renameSync(partial, out);
  return name;
}

const headers = findHeaders();
const list = headers === undefined ? [] : targets();
if (list.length === 0) {
  const missing = headers === undefined ? 'Node.js headers (node_api.h, uv.h)' : 'C compiler';
  const message = `transport-unix: no ${missing} here, so the Unix datagram addon is not built (UnixDatagramServer will throw NativeAddonMissingError)`;
  console.log(message);
  process.exit(required ? 1 : 0);
}
const built = list.map((target) => build(target, headers));
console.log(`transport-unix: built the Unix datagram addon for ${built.join(', ')}`);
if (required) {
  const missing = ['linux-x64-gnu', 'linux-arm64-gnu'].filter(
    (name) => !existsSync(join(root, 'prebuilds', name, 'unix_dgram.node')),
  );
  if (missing.length > 0) {
    console.error(`transport-unix: the release needs prebuilt binaries for ${missing.join(', ')}`);
    process.exit(1);
  }
}
