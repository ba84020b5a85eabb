#!/usr/bin/env node
// Benchmarks socketserver-http against named peers with wrk, on loopback:
//   1. keep-alive GETs of a 1 KiB file (requests/s): vs sirv on node:http, vs nginx
//      (and socketserver-http without its file cache, and with --compress: the
//      1 KiB file is not compressed, so that row is the cost of --compress itself)
//   2. a 10 MiB file, keep-alive, few connections (bytes/s): vs nginx
//   3. a 100 KiB .js with app.js.br and app.js.gz beside it, asked with
//      Accept-Encoding br, and gzip: --compress vs nginx's gzip_static (gzip
//      only: Debian's nginx has no brotli module) and sirv's precompressed files
//   4. the 1 KiB file over HTTPS, keep-alive: --tls-cert/--tls-key vs nginx
//      with the same certificate (made by openssl for the run)
// Servers are started in the same order each round, so the rows alternate.
// Peers that are not installed (wrk, nginx) are reported as skipped. Every
// load run is bounded (-d seconds); every process started is stopped.
//
// Usage (after `pnpm build`): node apps/http-file-server/bench/run.mjs [--duration 5] [--connections 50]
import { execFile, execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '2' },
  },
});
const duration = Math.min(60, Math.max(1, Number(values.duration)));
const connections = Math.min(1000, Math.max(1, Number(values.connections)));
const rounds = Math.min(5, Math.max(1, Number(values.rounds)));

const WRK = ['/usr/bin/wrk', '/usr/local/bin/wrk'].find(existsSync);
const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find(existsSync);
const processes = new Set();
const work = mkdtempSync(join(tmpdir(), 'sshttp-bench-'));
// nginx's worker runs as an unprivileged user: it must be able to read the files.
chmodSync(work, 0o755);

function run(cmd, args) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 1 << 20 }, (error, stdout, stderr) =>
      error ? reject(new Error(`${cmd} failed: ${stderr || error.message}`)) : resolve(stdout),
    );
  });
}

function freePort() {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Starts a process and resolves with it once `ready(stdoutSoFar)` returns a port. */
function startProcess(cmd, args, ready, options = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  processes.add(child);
  child.on('exit', () => processes.delete(child));
  let out = '';
  let err = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${cmd} did not start: ${err}`)), 15_000);
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.stdout.on('data', (d) => {
      out += d;
      const port = ready(out);
      if (port) {
        clearTimeout(timer);
        resolve({ child, port });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} exited (${code}): ${err}`));
    });
  });
}

async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** One GET: its status and Content-Encoding (HTTPS without checking the run's own certificate). */
function get(port, load) {
  const request = load.tls ? httpsRequest : httpRequest;
  const headers = load.coding ? { 'Accept-Encoding': load.coding } : {};
  return new Promise((resolve, reject) => {
    request(
      { host: '127.0.0.1', port, path: load.path, headers, rejectUnauthorized: false },
      (res) => {
        res.resume();
        res.on('end', () =>
          resolve({ status: res.statusCode, coding: res.headers['content-encoding'] }),
        );
      },
    )
      .on('error', reject)
      .end();
  });
}

async function waitListening(port, load = LOADS['1 KiB']) {
  for (let i = 0; i < 100; i++) {
    try {
      await get(port, load);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`nothing listens on ${port}`);
}

function startOurs(...extra) {
  const cli = join(here, '..', 'dist', 'cli.js');
  if (!existsSync(cli)) throw new Error('build first: pnpm --filter socketserver-http build');
  return startProcess(
    process.execPath,
    [cli, '0', '-b', '127.0.0.1', '-d', join(work, 'www'), '--quiet', ...extra],
    (out) => Number(/ port (\d+) /.exec(out)?.[1]) || 0,
  );
}

/** The loads: a path, wrk's connections, a header, the Content-Encoding the answer must have. */
const LOADS = {
  '1 KiB': { path: '/1k.bin', conns: connections },
  '10 MiB': { path: '/10m.bin', conns: 4 },
  '.js br': { path: '/app.js', conns: connections, coding: 'br' },
  '.js gzip': { path: '/app.js', conns: connections, coding: 'gzip' },
  'HTTPS 1 KiB': { path: '/1k.bin', conns: connections, tls: true },
};

/** Each row: how to start it, and which loads it takes. */
const servers = {
  'socketserver-http': { loads: ['1 KiB', '10 MiB'], start: () => startOurs() },
  'socketserver-http --compress': {
    loads: ['1 KiB', '.js br', '.js gzip'],
    start: () => startOurs('--compress'),
  },
  'socketserver-http --no-file-cache': {
    loads: ['1 KiB'],
    start: () => startOurs('--no-file-cache'),
  },
  'socketserver-http --tls-cert': {
    loads: ['HTTPS 1 KiB'],
    start: () =>
      startOurs('--tls-cert', join(work, 'cert.pem'), '--tls-key', join(work, 'key.pem')),
  },
  'sirv (node:http)': {
    loads: ['1 KiB', '.js br', '.js gzip'],
    start: () =>
      startProcess(
        process.execPath,
        [join(here, 'sirv-server.mjs'), join(work, 'www')],
        (out) => Number(/^(\d+)\n/.exec(out)?.[1]) || 0,
        { cwd: join(here, '..') },
      ),
  },
  nginx: { loads: ['1 KiB', '10 MiB', '.js gzip', 'HTTPS 1 KiB'], start: () => startNginx() },
};

async function startNginx() {
  if (!NGINX) return null;
  const port = await freePort();
  const tlsPort = await freePort();
  const conf = join(work, 'nginx.conf');
  writeFileSync(
    conf,
    `worker_processes 1;
daemon off;
pid ${join(work, 'nginx.pid')};
error_log ${join(work, 'nginx-error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  keepalive_timeout 5s;
  gzip_static on;
  types { application/octet-stream bin; application/javascript js; }
  client_body_temp_path ${join(work, 'nginx-tmp')};
  proxy_temp_path ${join(work, 'nginx-tmp')};
  fastcgi_temp_path ${join(work, 'nginx-tmp')};
  uwsgi_temp_path ${join(work, 'nginx-tmp')};
  scgi_temp_path ${join(work, 'nginx-tmp')};
  server {
    listen 127.0.0.1:${port};
    root ${join(work, 'www')};
  }
  server {
    listen 127.0.0.1:${tlsPort} ssl;
    ssl_certificate ${join(work, 'cert.pem')};
    ssl_certificate_key ${join(work, 'key.pem')};
    root ${join(work, 'www')};
  }
}
`,
  );
  mkdirSync(join(work, 'nginx-tmp'), { recursive: true });
  const child = spawn(NGINX, ['-c', conf, '-p', work, '-e', join(work, 'nginx-error.log')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  processes.add(child);
  child.on('exit', () => processes.delete(child));
  await waitListening(port);
  return { child, port, tlsPort };
}

/**
 * CPU time (user + system, µs) of a process and its children (nginx's
 * worker), from /proc: steadier than requests per second on a shared machine.
 */
function cpuMicros(pid) {
  try {
    const own = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    const ticks = Number(own[11]) + Number(own[12]);
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    const theirs = children ? children.split(' ').map(cpuMicros) : [];
    return ticks * 10_000 + theirs.reduce((a, b) => a + b, 0);
  } catch {
    return Number.NaN;
  }
}

function parseWrk(output) {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(output)?.[1]);
  const requests = Number(/(\d+) requests in/.exec(output)?.[1]);
  const transfer = /Transfer\/sec:\s+([\d.]+)([KMG]?B)/.exec(output);
  const scale = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 };
  const bytes = transfer ? Number(transfer[1]) * scale[transfer[2]] : Number.NaN;
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? '0';
  const socketErrors = /Socket errors: (.*)/.exec(output)?.[1] ?? 'none';
  return { rps, requests, bytes, errors: Number(errors), socketErrors };
}

async function wrk(port, load, seconds) {
  const header = load.coding ? ['-H', `Accept-Encoding: ${load.coding}`] : [];
  const args = ['-t1', `-c${load.conns}`, `-d${seconds}s`, ...header];
  const url = `${load.tls ? 'https' : 'http'}://127.0.0.1:${port}${load.path}`;
  return parseWrk(await run(WRK, [...args, url]));
}

/** Checks once that the server answers the load as intended (the coding asked for, or none). */
async function checkCoding(port, load) {
  const { status, coding } = await get(port, load);
  if (status !== 200 || coding !== load.coding) {
    throw new Error(`${load.path}: status ${status}, coding ${coding}, wanted ${load.coding}`);
  }
}

/** A 100 KiB script that compresses about as real ones do (to roughly a quarter). */
function script() {
  const words = ['const', 'return', 'function', 'value', 'index', 'render', 'state', 'props'];
  let text = '';
  for (let i = 0; text.length < 100 * 1024; i++) {
    const w = words[(i * 7) % words.length];
    text += `export ${w === 'const' ? 'const' : 'function'} ${w}${i.toString(36)}(a${i % 13}) { return a${i % 13} * ${(i * 2654435761) % 1000}; }\n`;
  }
  return Buffer.from(text.slice(0, 100 * 1024));
}

async function main() {
  if (!WRK) {
    console.log('wrk is not installed (Debian: apt-get install wrk): every run skipped');
    return;
  }
  mkdirSync(join(work, 'www'));
  writeFileSync(join(work, 'www', '1k.bin'), Buffer.alloc(1024, 'a'));
  const big = Buffer.alloc(10 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4096) big[i] = i & 0xff;
  writeFileSync(join(work, 'www', '10m.bin'), big);

  const js = script();
  writeFileSync(join(work, 'www', 'app.js'), js);
  writeFileSync(
    join(work, 'www', 'app.js.br'),
    brotliCompressSync(js, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }),
  );
  writeFileSync(join(work, 'www', 'app.js.gz'), gzipSync(js, { level: 9 }));
  // One certificate for every HTTPS row: ECDSA P-256, as a site would use.
  execFileSync(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
      ...['-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '2'],
      ...['-keyout', join(work, 'key.pem'), '-out', join(work, 'cert.pem')],
    ],
    { stdio: 'ignore' },
  );

  // results[server][load] = each round's figure (requests/s, or bytes/s for 10 MiB)
  const results = {};
  for (let round = 0; round < rounds; round++) {
    for (const [name, row] of Object.entries(servers)) {
      let server;
      try {
        server = await row.start();
      } catch (error) {
        results[name] ??= { skipped: error.message };
        continue;
      }
      if (server === null) {
        results[name] ??= { skipped: 'not installed' };
        continue;
      }
      try {
        results[name] ??= {};
        for (const loadName of row.loads) {
          const load = LOADS[loadName];
          const port = load.tls ? (server.tlsPort ?? server.port) : server.port;
          await waitListening(port, load);
          await checkCoding(port, load);
          await wrk(port, load, 1); // warm-up
          const cpuBefore = cpuMicros(server.child.pid);
          const result = await wrk(port, load, duration);
          const cpu = (cpuMicros(server.child.pid) - cpuBefore) / result.requests;
          if (result.errors > 0) throw new Error(`${name} ${loadName}: ${result.errors} errors`);
          const figure = loadName === '10 MiB' ? result.bytes : result.rps;
          results[name][loadName] ??= [];
          results[name][loadName].push(figure);
          results[name][`${loadName} cpu`] ??= [];
          results[name][`${loadName} cpu`].push(cpu);
        }
      } finally {
        await stop(server.child);
      }
    }
  }
  report(results);
}

function report(results) {
  const ours = results['socketserver-http'];
  const best = (figures) => (figures?.length ? Math.max(...figures) : Number.NaN);
  const fmt = (n, load) =>
    !Number.isFinite(n)
      ? '-'
      : load === '10 MiB'
        ? `${(n / 1024 / 1024).toFixed(0)} MiB/s`
        : n.toFixed(0);
  console.log(
    `\nwrk -t1 -c${connections} -d${duration}s (-c4 for 10 MiB); best of ${rounds} rounds (each round's figure in brackets); loopback\n`,
  );
  const names = Object.keys(LOADS);
  console.log(`| server | ${names.join(' | ')} |`);
  console.log(`|---|${names.map(() => '---:').join('|')}|`);
  for (const [name, r] of Object.entries(results)) {
    if (r.skipped) {
      console.log(`| ${name} | skipped: ${r.skipped} |${names.map(() => '').join(' |')}`);
      continue;
    }
    const cells = names.map((load) =>
      r[load] ? `${fmt(best(r[load]), load)} [${r[load].map((n) => fmt(n, load)).join(', ')}]` : '',
    );
    console.log(`| ${name} | ${cells.join(' | ')} |`);
  }
  const compress = results['socketserver-http --compress'];
  const nginx = results.nginx;
  const median = (figures = []) =>
    [...figures].sort((a, b) => a - b)[Math.floor(figures.length / 2)];
  console.log('\nServer CPU µs per request (median of rounds; each round in brackets):');
  for (const [name, r] of Object.entries(results)) {
    for (const load of names.filter((load) => r[`${load} cpu`])) {
      const cpu = r[`${load} cpu`];
      console.log(
        `- ${name}, ${load}: ${median(cpu).toFixed(1)} [${cpu.map((n) => n.toFixed(1)).join(', ')}]`,
      );
    }
  }
  const ratio = (a, b) => (a > 0 && b > 0 ? `${(a / b).toFixed(2)}x` : '-');
  console.log('\nRatios (best against best; per round in brackets):');
  const perRound = (a = [], b = []) => a.map((x, i) => ratio(x, b[i])).join(', ');
  console.log(
    `- 1 KiB, --compress / without: ${ratio(best(compress?.['1 KiB']), best(ours?.['1 KiB']))} [${perRound(compress?.['1 KiB'], ours?.['1 KiB'])}]; CPU per request, medians: ${ratio(median(compress?.['1 KiB cpu']), median(ours?.['1 KiB cpu']))}`,
  );
  console.log(
    `- 1 KiB, ours / nginx: ${ratio(best(ours?.['1 KiB']), best(nginx?.['1 KiB']))}; ours / sirv: ${ratio(best(ours?.['1 KiB']), best(results['sirv (node:http)']?.['1 KiB']))}`,
  );
  console.log(`- 10 MiB, ours / nginx: ${ratio(best(ours?.['10 MiB']), best(nginx?.['10 MiB']))}`);
  console.log(
    `- 100 KiB .js, --compress br / nginx gzip_static: ${ratio(best(compress?.['.js br']), best(nginx?.['.js gzip']))} [${perRound(compress?.['.js br'], nginx?.['.js gzip'])}]; gzip / nginx gzip: ${ratio(best(compress?.['.js gzip']), best(nginx?.['.js gzip']))}`,
  );
  const tls = results['socketserver-http --tls-cert'];
  console.log(
    `- HTTPS 1 KiB, ours / nginx: ${ratio(best(tls?.['HTTPS 1 KiB']), best(nginx?.['HTTPS 1 KiB']))} [${perRound(tls?.['HTTPS 1 KiB'], nginx?.['HTTPS 1 KiB'])}]`,
  );
}

try {
  await main();
} finally {
  for (const child of processes) child.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
}
