#!/usr/bin/env node
// Benchmarks socketserver-http against named peers with wrk, on loopback:
//   1. keep-alive GETs of a 1 KiB file (requests/s): vs sirv on node:http, vs nginx
//      (and socketserver-http without its file cache)
//   2. a 10 MiB file, keep-alive, few connections (bytes/s): vs nginx
// Peers that are not installed (wrk, nginx) are reported as skipped. Every
// load run is bounded (-d seconds); every process started is stopped.
//
// Usage (after `pnpm build`): node apps/http-file-server/bench/run.mjs [--duration 5] [--connections 50]
import { execFile, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

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

async function waitListening(port) {
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(`http://127.0.0.1:${port}/1k.bin`).then((r) => r.arrayBuffer());
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

// Rows measured for the 1 KiB file only.
const SMALL_ONLY = new Set(['socketserver-http --no-file-cache', 'sirv (node:http)']);

const servers = {
  async 'socketserver-http'() {
    return startOurs();
  },
  async 'socketserver-http --no-file-cache'() {
    return startOurs('--no-file-cache');
  },
  async 'sirv (node:http)'() {
    return startProcess(
      process.execPath,
      [join(here, 'sirv-server.mjs'), join(work, 'www')],
      (out) => Number(/^(\d+)\n/.exec(out)?.[1]) || 0,
      { cwd: join(here, '..') },
    );
  },
  async nginx() {
    if (!NGINX) return null;
    const port = await freePort();
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
  types { application/octet-stream bin; }
  client_body_temp_path ${join(work, 'nginx-tmp')};
  proxy_temp_path ${join(work, 'nginx-tmp')};
  fastcgi_temp_path ${join(work, 'nginx-tmp')};
  uwsgi_temp_path ${join(work, 'nginx-tmp')};
  scgi_temp_path ${join(work, 'nginx-tmp')};
  server {
    listen 127.0.0.1:${port};
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
    return { child, port };
  },
};

function parseWrk(output) {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(output)?.[1]);
  const transfer = /Transfer\/sec:\s+([\d.]+)([KMG]?B)/.exec(output);
  const scale = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 };
  const bytes = transfer ? Number(transfer[1]) * scale[transfer[2]] : Number.NaN;
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? '0';
  const socketErrors = /Socket errors: (.*)/.exec(output)?.[1] ?? 'none';
  return { rps, bytes, errors: Number(errors), socketErrors };
}

async function wrk(port, path, conns, seconds) {
  const args = ['-t1', `-c${conns}`, `-d${seconds}s`, `http://127.0.0.1:${port}${path}`];
  return parseWrk(await run(WRK, args));
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

  const results = {};
  for (let round = 0; round < rounds; round++) {
    for (const [name, startServer] of Object.entries(servers)) {
      let server;
      try {
        server = await startServer();
      } catch (error) {
        results[name] ??= { skipped: error.message };
        continue;
      }
      if (server === null) {
        results[name] ??= { skipped: 'not installed' };
        continue;
      }
      try {
        await waitListening(server.port);
        await wrk(server.port, '/1k.bin', connections, 1); // warm-up
        const small = await wrk(server.port, '/1k.bin', connections, duration);
        results[name] ??= { rps: 0, bytes: 0, errors: 0 };
        const entry = results[name];
        entry.rps = Math.max(entry.rps, small.rps);
        entry.errors += small.errors;
        if (!SMALL_ONLY.has(name)) {
          const large = await wrk(server.port, '/10m.bin', 4, duration);
          entry.bytes = Math.max(entry.bytes, large.bytes);
          entry.errors += large.errors;
        }
      } finally {
        await stop(server.child);
      }
    }
  }

  const ours = results['socketserver-http'];
  const fmt = (n) => (Number.isFinite(n) && n > 0 ? n.toFixed(0) : '-');
  const mib = (n) => (Number.isFinite(n) && n > 0 ? (n / 1024 / 1024).toFixed(0) : '-');
  console.log(
    `\nwrk -t1 -c${connections} -d${duration}s (1 KiB), wrk -t1 -c4 -d${duration}s (10 MiB); best of ${rounds} rounds; loopback\n`,
  );
  console.log('| server | 1 KiB req/s | vs ours | 10 MiB MiB/s | vs ours | errors |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const [name, r] of Object.entries(results)) {
    if (r.skipped) {
      console.log(`| ${name} | skipped: ${r.skipped} | | | | |`);
      continue;
    }
    const ratio = (a, b) => (a > 0 && b > 0 ? `${(b / a).toFixed(2)}x` : '-');
    console.log(
      `| ${name} | ${fmt(r.rps)} | ${ratio(r.rps, ours?.rps)} | ${mib(r.bytes)} | ${ratio(r.bytes, ours?.bytes)} | ${r.errors} |`,
    );
  }
  console.log(
    '\n"vs ours" is socketserver-http divided by the peer: above 1.00x, socketserver-http is faster.',
  );
}

try {
  await main();
} finally {
  for (const child of processes) child.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
}
