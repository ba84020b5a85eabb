// Packs the published packages as `pnpm publish` would, installs them with
// npm into empty directories (only the packages a user would pick), and runs
// echo servers from a plain .mjs file and a plain .cjs file, each answered by
// a client:
//   1. core + transport-inet: a TCP echo (and unix-dgram must not come along);
//   2. core + transport-unix: a Unix stream echo and a Unix datagram echo
//      (the native addon unix-dgram is built by npm from source);
//   3. core + transport-inet + both mix-ins: the same handler module served
//      by ThreadingMixIn(TCPServer) and ForkingMixIn(TCPServer), the worker
//      and the child importing it from the installed layout.
// Exits non-zero on any failure.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const pnpm = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).packageManager;
const work = mkdtempSync(join(tmpdir(), 'socketserver-pack-'));
const run = (cmd, args, cwd) =>
  execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'] }).toString();

function pack(dir) {
  // pnpm pack rewrites workspace: ranges to real versions, as publish does.
  const out = join(work, 'tarballs', dir.replace('/', '-'));
  mkdirSync(out, { recursive: true });
  run('npx', ['-y', pnpm, 'pack', '--pack-destination', out], join(root, dir));
  const name = readFileSync(join(root, dir, 'package.json'), 'utf8');
  const { name: pkg, version } = JSON.parse(name);
  return join(out, `${pkg.replace('@', '').replace('/', '-')}-${version}.tgz`);
}

function install(name, tarballs) {
  const app = join(work, name);
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), '{"name":"pack-check","private":true}');
  run('npm', ['install', '--no-audit', '--no-fund', ...tarballs], app);
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

function check(app, file, imports, body) {
  for (const kind of ['mjs', 'cjs']) {
    writeFileSync(join(app, `${file}.${kind}`), script(kind, imports, body));
    process.stdout.write(`${file}.${kind}: ${run('node', [`${file}.${kind}`], app)}`);
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

try {
  const core = pack('packages/core');

  const inet = install('inet', [core, pack('packages/transport-inet')]);
  if (existsSync(join(inet, 'node_modules', 'unix-dgram')))
    throw new Error('transport-inet pulled unix-dgram');
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

  const unix = install('unix', [core, pack('packages/transport-unix')]);
  if (existsSync(join(unix, 'node_modules', '@socketserver', 'transport-inet'))) {
    throw new Error('transport-unix pulled transport-inet');
  }
  check(
    unix,
    'unix-echo',
    [
      ['StreamRequestHandler, DatagramRequestHandler', '@socketserver/core'],
      ['UnixStreamServer, UnixDatagramServer', '@socketserver/transport-unix'],
      ['connect', 'node:net'],
      ['mkdtempSync, rmSync', 'node:fs'],
      ['tmpdir', 'node:os'],
      ['join', 'node:path'],
      ['createRequire', 'node:module'],
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
    // unix-dgram came along as transport-unix's dependency: a client socket for the test.
    const unixDgram = createRequire(join(process.cwd(), 'index.js'))('unix-dgram');
    const client = unixDgram.createSocket('unix_dgram');
    client.bind(join(dir, 'c.sock'));
    const answer = await new Promise((resolve, reject) => {
      client.on('message', (m) => resolve(m.toString()));
      client.on('error', reject);
      client.send(Buffer.from('ping'), 0, 4, join(dir, 'd.sock'));
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
  console.log('pack check passed');
} finally {
  rmSync(work, { recursive: true, force: true });
}
