// Packs @socketserver/core and @socketserver/transport-inet as they would be
// published, installs the tarballs alone with npm into an empty directory,
// and runs a TCP echo server from a plain .mjs file and a plain .cjs file,
// each answered by a client. Exits non-zero on any failure.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const packages = ['packages/core', 'packages/transport-inet'];
const work = mkdtempSync(join(tmpdir(), 'socketserver-pack-'));
const run = (cmd, args, cwd) =>
  execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'] }).toString();

try {
  const tarballs = join(work, 'tarballs');
  mkdirSync(tarballs);
  for (const dir of packages) {
    // pnpm pack rewrites workspace: ranges to real versions, as publish does.
    run(
      'npx',
      [
        '-y',
        JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).packageManager,
        'pack',
        '--pack-destination',
        tarballs,
      ],
      join(root, dir),
    );
  }
  const app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), '{"name":"pack-check","private":true}');
  const files = readdirSync(tarballs).map((f) => join(tarballs, f));
  run('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', ...files], app);

  const body = `
class Upper extends StreamRequestHandler {
  async handle() {
    for await (const line of this.rfile) await this.wfile.write(line.toString().toUpperCase());
  }
}
(async () => {
  const server = await TCPServer.create({ host: '127.0.0.1', port: 0 }, Upper);
  const serving = server.serveForever({ pollInterval: 50 });
  const client = net.connect(server.serverAddress.port, '127.0.0.1');
  let reply = '';
  client.on('data', (d) => (reply += d));
  client.end('hello\\n');
  await new Promise((r) => client.on('close', r));
  await server.shutdown();
  await serving;
  await server.serverClose();
  if (reply !== 'HELLO\\n') throw new Error('unexpected reply ' + JSON.stringify(reply));
  console.log('reply ok: ' + JSON.stringify(reply));
})().catch((e) => { console.error(e); process.exit(1); });
`;
  writeFileSync(
    join(app, 'echo.mjs'),
    `import net from 'node:net';
import { StreamRequestHandler } from '@socketserver/core';
import { TCPServer } from '@socketserver/transport-inet';
${body}`,
  );
  writeFileSync(
    join(app, 'echo.cjs'),
    `const net = require('node:net');
const { StreamRequestHandler } = require('@socketserver/core');
const { TCPServer } = require('@socketserver/transport-inet');
${body}`,
  );
  for (const file of ['echo.mjs', 'echo.cjs']) {
    process.stdout.write(`${file}: ${run('node', [file], app)}`);
  }
  console.log('pack check passed');
} finally {
  rmSync(work, { recursive: true, force: true });
}
