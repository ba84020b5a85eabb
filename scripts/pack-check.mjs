// Packs the published packages as `pnpm publish` would, installs them with
// npm into empty directories (only the packages a user would pick), and runs
// echo servers from a plain .mjs file and a plain .cjs file, each answered by
// a client:
//   1. core + transport-inet: a TCP echo (and transport-unix must not come along);
//   2. core + transport-unix, installed and run with no C compiler on PATH: a
//      Unix stream echo and a Unix datagram echo (the prebuilt Node-API addon
//      ships in the tarball), on this Node and on each Node binary listed in
//      PACK_CHECK_NODES (colon-separated; .ci/run passes Node 24 and 26);
//   3. core + transport-inet + both mix-ins: the same handler module served
//      by ThreadingMixIn(TCPServer) and ForkingMixIn(TCPServer), the worker
//      and the child importing it from the installed layout; then that app
//      bundled with esbuild and run from a folder with no node_modules;
//   4. one core in every tree: core is a peer dependency of the transports
//      and mix-ins, so a newer compatible core (a patch) is shared by all of
//      them (`npm ls` shows one copy), and an incompatible one (the next
//      minor on 0.x) is refused at install (ERESOLVE) instead of becoming a
//      second copy whose classes are not the first one's;
//   5. core + http + transport-inet: a BaseHTTPRequestHandler and a
//      SimpleHTTPRequestHandler answering fetch (and no mix-in, no
//      transport-unix came along); then with mixin-threading added,
//      SimpleHTTPRequestHandler in worker threads, which import it from the
//      installed package (its moduleUrl), whether the script imported or
//      required it;
//   6. the socketserver-http command: its tarball (with the packages it
//      needs) installed in an empty folder, then run with npx from there:
//      --version, --help, and serving a file brotli-compressed to a client.
// Exits non-zero on any failure.
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const pnpm = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).packageManager;
const work = mkdtempSync(join(tmpdir(), 'socketserver-pack-'));
// npm is run as a user would run it: without the npm_config_* variables that pnpm exports to the
// scripts it runs (npm warns about each one it does not know).
const userEnv = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => !key.toLowerCase().startsWith('npm_config_')),
);
const run = (cmd, args, cwd, env = userEnv) =>
  execFileSync(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'inherit'] }).toString();

/** An environment whose PATH has node and npm and nothing else: no compiler, no make, no python. */
function bareEnv(node) {
  const bin = mkdtempSync(join(work, 'bin-'));
  symlinkSync(node, join(bin, 'node'));
  const npmCli = join(run('npm', ['root', '-g']).trim(), 'npm', 'bin', 'npm-cli.js');
  writeFileSync(join(bin, 'npm'), `#!/bin/sh\nexec "${node}" "${npmCli}" "$@"\n`, { mode: 0o755 });
  return { ...userEnv, PATH: bin };
}

const packed = new Map();
function pack(dir) {
  if (!packed.has(dir)) packed.set(dir, packOnce(dir));
  return packed.get(dir);
}

function packOnce(dir) {
  // pnpm pack rewrites workspace: ranges to real versions, as publish does.
  const out = join(work, 'tarballs', dir.replace('/', '-'));
  mkdirSync(out, { recursive: true });
  run('npx', ['-y', pnpm, 'pack', '--pack-destination', out], join(root, dir));
  const name = readFileSync(join(root, dir, 'package.json'), 'utf8');
  const { name: pkg, version } = JSON.parse(name);
  return join(out, `${pkg.replace('@', '').replace('/', '-')}-${version}.tgz`);
}

function install(name, tarballs, env) {
  const app = join(work, name);
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), '{"name":"pack-check","private":true}');
  run('npm', ['install', '--no-audit', '--no-fund', ...tarballs], app, env);
  return app;
}

function script(kind, imports, body) {
  const lines = imports.map(([names, from]) =>
    kind === 'mjs'
      ? `import { ${names} } from '${from}';`
      : `const { ${names} } = require('${from}');`,
  );
  return `${lines.join('\n')}\n(async () => {\n${body}\n})().catch((e) => { console.error(e); process.exit(1); });\n`;
}

function check(app, file, imports, body, nodes = [process.execPath], env = userEnv) {
  for (const kind of ['mjs', 'cjs']) {
    writeFileSync(join(app, `${file}.${kind}`), script(kind, imports, body));
    for (const node of nodes) {
      const version = run(node, ['--version'], app).trim();
      process.stdout.write(
        `${file}.${kind} (${version}): ${run(node, [`${file}.${kind}`], app, env)}`,
      );
    }
  }
}

const upper = `
  class Upper extends StreamRequestHandler {
    async handle() {
      for await (const line of this.rfile) await this.wfile.write(line.toString().toUpperCase());
    }
  }`;
const talk = `
  async function talk(options) {
    const client = net.connect(options);
    let reply = '';
    client.on('data', (d) => (reply += d));
    client.end('hello\\n');
    await new Promise((r) => client.on('close', r));
    if (reply !== 'HELLO\\n') throw new Error('unexpected reply ' + JSON.stringify(reply));
    return reply;
  }`;

/** Packs core again under another version number, as a later release would be. */
function coreAt(version) {
  const copy = join(work, `core-${version}`);
  mkdirSync(copy);
  run('tar', ['-xzf', pack('packages/core'), '-C', copy, '--strip-components=1']);
  const manifest = JSON.parse(readFileSync(join(copy, 'package.json'), 'utf8'));
  writeFileSync(join(copy, 'package.json'), JSON.stringify({ ...manifest, version }));
  const out = join(work, 'tarballs', `core-${version}`);
  mkdirSync(out, { recursive: true });
  run('npm', ['pack', '--silent', '--pack-destination', out, '--ignore-scripts'], copy);
  return join(out, `socketserver-core-${version}.tgz`);
}

function oneCore() {
  const [major, minor, patch] = JSON.parse(
    readFileSync(join(root, 'packages/core/package.json'), 'utf8'),
  )
    .version.split('-')[0] // before the first release: 0.1.0-0
    .split('.')
    .map(Number);
  const dependents = ['packages/transport-inet', 'packages/mixin-threading'].map(pack);
  const compatible = install('one-core', [coreAt(`${major}.${minor}.${patch + 1}`), ...dependents]);
  const copies = run('npm', ['ls', '@socketserver/core', '--all', '--parseable'], compatible)
    .split('\n')
    .filter((line) => line.endsWith(join('@socketserver', 'core')));
  if (copies.length !== 1) throw new Error(`expected one core, npm ls shows ${copies.length}`);
  const app = join(work, 'two-cores');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), '{"name":"pack-check","private":true}');
  const breaking = major === 0 ? `0.${minor + 1}.0` : `${major + 1}.0.0`;
  try {
    execFileSync('npm', ['install', '--no-audit', '--no-fund', coreAt(breaking), ...dependents], {
      cwd: app,
      env: userEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (error) {
    if (!String(error.stderr).includes('ERESOLVE')) throw error;
    console.log(
      `one core: core ${major}.${minor}.${patch + 1} is shared (npm ls: 1 copy); core ${breaking} with dependents built for ${major}.${minor} is refused (ERESOLVE)`,
    );
    return;
  }
  throw new Error(`core ${breaking} installed beside dependents that need ^${major}.${minor}.0`);
}

/**
 * The mix-ins' app bundled with esbuild as core's README says (the handler
 * module an entry of its own, kept external), run from a folder with no
 * node_modules: threads and children start from the bundle alone.
 */
function bundled(mixins) {
  const { esbuild } = JSON.parse(
    readFileSync(join(root, 'packages/core/package.json'), 'utf8'),
  ).devDependencies;
  // --ignore-scripts: esbuild's postinstall only checks its binary, which comes in a package of its own.
  run(
    'npm',
    ['install', '--no-audit', '--no-fund', '--ignore-scripts', `esbuild@${esbuild}`],
    mixins,
  );
  const out = join(work, 'bundled');
  run(
    'npx',
    [
      ...['esbuild', 'mixins.mjs', 'handler.mjs', '--bundle', '--platform=node', '--format=esm'],
      ...[`--outdir=${out}`, '--out-extension:.js=.mjs', '--external:./handler.mjs'],
      '--log-level=warning',
    ],
    mixins,
  );
  process.stdout.write(`bundled mixins.mjs: ${run('node', ['mixins.mjs'], out)}`);
}

/** Runs @socketserver/http's README example from installed tarballs: JSON on TCP and on a Unix socket. */
function httpExample(core) {
  const transports = ['packages/transport-inet', 'packages/transport-unix'].map(pack);
  const app = install('http-example', [core, ...transports, pack('packages/http')]);
  copyFileSync(join(root, 'packages/http/examples/hello.mjs'), join(app, 'hello.mjs'));
  writeFileSync(
    join(app, 'run.mjs'),
    `import { spawn } from 'node:child_process';
import { request } from 'node:http';
const child = spawn(process.execPath, ['hello.mjs', '0', 'hello.sock'], { stdio: ['ignore', 'pipe', 'ignore'] });
const line = await new Promise((resolve) => child.stdout.once('data', (data) => resolve(String(data))));
const port = Number(/:(\\d+)\\//.exec(line)[1]);
const get = (options) => new Promise((resolve, reject) => {
  request({ ...options, path: '/hi' }, (response) => {
    let body = '';
    response.on('data', (chunk) => (body += chunk)).on('end', () => resolve(JSON.parse(body)));
  }).on('error', reject).end();
});
const answers = [await get({ host: '127.0.0.1', port }), await get({ socketPath: 'hello.sock' })];
child.kill('SIGINT');
const code = await new Promise((resolve) => child.on('exit', resolve));
if (code !== 0 || answers.some((a) => a.hello !== 'world' || a.path !== '/hi')) {
  throw new Error('unexpected: ' + JSON.stringify({ code, answers }));
}
console.log('http README example ok on TCP and the Unix socket');
`,
  );
  process.stdout.write(run('node', ['run.mjs'], app));
}

/** Installs the socketserver-http tarball in an empty folder and runs it with npx, as a user would. */
function httpCli(core) {
  const needed = ['http', 'transport-inet', 'transport-unix', 'mixin-threading', 'mixin-forking'];
  const app = install('http-cli', [
    core,
    ...needed.map((name) => pack(`packages/${name}`)),
    pack('apps/http-file-server'),
  ]);
  const { version } = JSON.parse(
    readFileSync(join(root, 'apps/http-file-server/package.json'), 'utf8'),
  );
  const printed = run('npx', ['socketserver-http', '--version'], app).trim();
  if (printed !== `socketserver-http ${version}`) throw new Error(`--version printed ${printed}`);
  if (!run('npx', ['socketserver-http', '--help'], app).startsWith('usage: socketserver-http')) {
    throw new Error('--help printed no usage');
  }
  mkdirSync(join(app, 'www'));
  writeFileSync(join(app, 'www', 'app.js'), 'console.log("hello");\n'.repeat(100));
  writeFileSync(
    join(app, 'serve.mjs'),
    `import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { brotliDecompressSync } from 'node:zlib';
// npx runs the command as its child: the signal goes to the process group, as Ctrl-C in a shell does.
const child = spawn('npx', ['socketserver-http', '0', '-b', '127.0.0.1', '-d', 'www', '--compress', '--quiet'], {
  stdio: ['ignore', 'pipe', 'pipe'],
  detached: true,
});
let stderr = '';
child.stderr.on('data', (data) => (stderr += data));
const line = await new Promise((resolve) => child.stdout.once('data', (data) => resolve(String(data))));
const port = Number(/ port (\\d+) /.exec(line)[1]);
const response = await new Promise((resolve, reject) => {
  request({ host: '127.0.0.1', port, path: '/app.js', headers: { 'Accept-Encoding': 'br' } }, (res) => {
    const chunks = [];
    res.on('data', (chunk) => chunks.push(chunk)).on('end', () => resolve({ res, body: Buffer.concat(chunks) }));
  }).on('error', reject).end();
});
const closed = new Promise((resolve) => child.on('close', resolve));
process.kill(-child.pid, 'SIGTERM');
await closed;
const body = brotliDecompressSync(response.body).toString();
if (!stderr.includes('SIGTERM received, exiting.') || response.res.headers['content-encoding'] !== 'br' || body !== readFileSync('www/app.js', 'utf8')) {
  throw new Error('unexpected: ' + JSON.stringify({ stderr, headers: response.res.headers }));
}
console.log('npx socketserver-http ' + line.trim() + ': app.js brotli-compressed, decoded to the file; stopped by SIGTERM');
`,
  );
  console.log(`npx socketserver-http --version: ${printed}`);
  process.stdout.write(run('node', ['serve.mjs'], app));
}

try {
  const core = pack('packages/core');

  const inet = install('inet', [core, pack('packages/transport-inet')]);
  if (existsSync(join(inet, 'node_modules', '@socketserver', 'transport-unix')))
    throw new Error('transport-inet pulled transport-unix');
  check(
    inet,
    'tcp-echo',
    [
      ['StreamRequestHandler', '@socketserver/core'],
      ['TCPServer', '@socketserver/transport-inet'],
      ['connect', 'node:net'],
    ],
    `${upper}
  const net = { connect };
  ${talk}
  const server = await TCPServer.create({ host: '127.0.0.1', port: 0 }, Upper);
  const serving = server.serveForever({ pollInterval: 50 });
  const reply = await talk({ host: '127.0.0.1', port: server.serverAddress.port });
  await server.shutdown();
  await serving;
  await server.serverClose();
  console.log('tcp reply ok: ' + JSON.stringify(reply));`,
  );

  const bare = bareEnv(process.execPath);
  const unix = install('unix', [core, pack('packages/transport-unix')], bare);
  if (existsSync(join(unix, 'node_modules', '@socketserver', 'transport-inet'))) {
    throw new Error('transport-unix pulled transport-inet');
  }
  const prebuilt = join(unix, 'node_modules', '@socketserver', 'transport-unix', 'prebuilds');
  if (!existsSync(join(prebuilt, `linux-${process.arch}-gnu`, 'unix_dgram.node'))) {
    throw new Error(`the transport-unix tarball has no prebuilt addon for linux-${process.arch}`);
  }
  const nodes = [
    process.execPath,
    ...(process.env.PACK_CHECK_NODES ?? '').split(':').filter(Boolean),
  ];
  check(
    unix,
    'unix-echo',
    [
      ['StreamRequestHandler, DatagramRequestHandler', '@socketserver/core'],
      ['UnixStreamServer, UnixDatagramServer, UnixDatagramSocket', '@socketserver/transport-unix'],
      ['connect', 'node:net'],
      ['mkdtempSync, rmSync', 'node:fs'],
      ['tmpdir', 'node:os'],
      ['join', 'node:path'],
    ],
    `${upper}
  const net = { connect };
  ${talk}
  class DatagramUpper extends DatagramRequestHandler {
    async handle() { await this.wfile.write(this.packet.toString().toUpperCase()); }
  }
  const dir = mkdtempSync(join(tmpdir(), 'pack-check-'));
  try {
    const stream = await UnixStreamServer.create(join(dir, 's.sock'), Upper);
    const serving = stream.serveForever({ pollInterval: 50 });
    const reply = await talk({ path: join(dir, 's.sock') });
    await stream.shutdown();
    await serving;
    await stream.serverClose();
    const dgram = await UnixDatagramServer.create(join(dir, 'd.sock'), DatagramUpper);
    const dgramServing = dgram.serveForever({ pollInterval: 50 });
    const client = new UnixDatagramSocket();
    client.bind(join(dir, 'c.sock'));
    const answer = await new Promise((resolve, reject) => {
      client.on('message', (m) => resolve(m.toString()));
      client.on('error', reject);
      client.send('ping', join(dir, 'd.sock'));
    });
    client.close();
    await dgram.shutdown();
    await dgramServing;
    await dgram.serverClose();
    if (answer !== 'PING') throw new Error('unexpected datagram reply ' + answer);
    console.log('unix stream reply ok: ' + JSON.stringify(reply) + ', unix datagram reply ok: ' + answer);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }`,
    nodes,
    bare,
  );
  const mixins = install('mixins', [
    core,
    pack('packages/transport-inet'),
    pack('packages/mixin-threading'),
    pack('packages/mixin-forking'),
  ]);
  // The handler lives in a module of its own, as workers and children import it.
  writeFileSync(
    join(mixins, 'handler.mjs'),
    `import { StreamRequestHandler } from '@socketserver/core';
export class Upper extends StreamRequestHandler {
  static moduleUrl = import.meta.url;
  async handle() {
    for await (const line of this.rfile) await this.wfile.write(line.toString().toUpperCase() + process.pid);
  }
}
`,
  );
  writeFileSync(
    join(mixins, 'handler.cjs'),
    `const { pathToFileURL } = require('node:url');
const { StreamRequestHandler } = require('@socketserver/core');
class Upper extends StreamRequestHandler {
  static moduleUrl = pathToFileURL(__filename).href;
  async handle() {
    for await (const line of this.rfile) await this.wfile.write(line.toString().toUpperCase() + process.pid);
  }
}
module.exports = { Upper };
`,
  );
  for (const kind of ['mjs', 'cjs']) {
    const load = kind === 'mjs' ? `await import('./handler.mjs')` : `require('./handler.cjs')`;
    writeFileSync(
      join(mixins, `mixins.${kind}`),
      script(
        kind,
        [
          ['TCPServer', '@socketserver/transport-inet'],
          ['ThreadingMixIn', '@socketserver/mixin-threading'],
          ['ForkingMixIn', '@socketserver/mixin-forking'],
          ['connect', 'node:net'],
        ],
        `  const { Upper } = ${load};
  const results = [];
  for (const [name, Mixed] of [['threading', ThreadingMixIn(TCPServer)], ['forking', ForkingMixIn(TCPServer)]]) {
    const server = await Mixed.create({ host: '127.0.0.1', port: 0 }, Upper);
    const serving = server.serveForever({ pollInterval: 50 });
    const client = connect(server.serverAddress.port, '127.0.0.1');
    let reply = '';
    client.on('data', (d) => (reply += d));
    client.end('hello\\n');
    await new Promise((r) => client.on('close', r));
    await server.shutdown();
    await serving;
    await server.serverClose();
    const [line, pid] = [reply.slice(0, 6), Number(reply.slice(6))];
    if (line !== 'HELLO\\n' || !pid) throw new Error(name + ': unexpected reply ' + JSON.stringify(reply));
    if (name === 'forking' && pid === process.pid) throw new Error('forking: not handled in a child');
    results.push(name + ' ok');
  }
  console.log(results.join(', '));`,
      ),
    );
    process.stdout.write(`mixins.${kind}: ${run('node', [`mixins.${kind}`], mixins)}`);
  }
  bundled(mixins);
  const httpApp = install('http', [core, pack('packages/transport-inet'), pack('packages/http')]);
  for (const pkg of ['mixin-threading', 'mixin-forking', 'transport-unix']) {
    if (existsSync(join(httpApp, 'node_modules', '@socketserver', pkg))) {
      throw new Error(`@socketserver/http pulled @socketserver/${pkg}`);
    }
  }
  writeFileSync(join(httpApp, 'hello.txt'), 'hello file');
  const serveHttp = (Server) => `
  const server = await ${Server}.create({ host: '127.0.0.1', port: 0 }, Files, {
    handlerSettings: { directory: process.cwd(), quiet: true },
  });
  const serving = server.serveForever({ pollInterval: 50 });
  const base = 'http://127.0.0.1:' + server.serverAddress.port;
  const file = await (await fetch(base + '/hello.txt')).text();
  await server.shutdown();
  await serving;
  await server.serverClose();
  if (file !== 'hello file') throw new Error('unexpected file ' + JSON.stringify(file));`;
  check(
    httpApp,
    'http',
    [
      ['BaseHTTPRequestHandler, HTTPServer, SimpleHTTPRequestHandler', '@socketserver/http'],
      ['EventLoopMixIn', '@socketserver/core'],
      ['TCPServer', '@socketserver/transport-inet'],
    ],
    `  class Hello extends BaseHTTPRequestHandler {
    doGET() {
      const body = Buffer.from(JSON.stringify({ hello: this.path }));
      this.sendResponse(200);
      this.sendHeader('Content-Length', body.length);
      return this.endHeaders(body);
    }
  }
  const hello = await HTTPServer(TCPServer).create({ host: '127.0.0.1', port: 0 }, Hello, {
    handlerSettings: { quiet: true, keepAlive: false },
  });
  const helloServing = hello.serveForever({ pollInterval: 50 });
  const answer = await (await fetch('http://127.0.0.1:' + hello.serverAddress.port + '/x')).json();
  await hello.shutdown();
  await helloServing;
  await hello.serverClose();
  if (answer.hello !== '/x') throw new Error('unexpected answer ' + JSON.stringify(answer));
  const Files = SimpleHTTPRequestHandler;
  ${serveHttp('EventLoopMixIn(HTTPServer(TCPServer))')}
  console.log('http hello ok, file ok');`,
    nodes,
  );
  run('npm', ['install', '--no-audit', '--no-fund', pack('packages/mixin-threading')], httpApp);
  check(
    httpApp,
    'http-threads',
    [
      ['HTTPServer, SimpleHTTPRequestHandler', '@socketserver/http'],
      ['ThreadingMixIn', '@socketserver/mixin-threading'],
      ['TCPServer', '@socketserver/transport-inet'],
    ],
    `  const Files = SimpleHTTPRequestHandler;
  if (!Files.moduleUrl.includes('/node_modules/@socketserver/http/dist/index.')) {
    throw new Error('unexpected moduleUrl ' + Files.moduleUrl);
  }
  ${serveHttp('ThreadingMixIn(HTTPServer(TCPServer))')}
  console.log('http in worker threads ok (' + Files.moduleUrl.split('/').pop() + ')');`,
    nodes,
  );
  httpExample(core);
  httpCli(core);
  oneCore();
  console.log('pack check passed');
} finally {
  rmSync(work, { recursive: true, force: true });
}
