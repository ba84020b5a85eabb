#!/usr/bin/env node
// Benchmarks a hello handler (200, 13-byte body, keep-alive) on BaseHTTPRequestHandler against the
// same handler on Node's node:http and on Python's http.server, with wrk on loopback; ratios come
// from one run. A last row answers with fixed bytes on node:net: the kernel's and Node's share. Besides requests/s, it reports each server's CPU time per request (from
// /proc/PID/stat), which moves far less than throughput when the machine is shared.
//
// Usage (after `pnpm build`): node packages/http/bench/hello.mjs [--duration 4] [--connections 50] [--rounds 3]
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '4' },
    connections: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '3' },
  },
});
const duration = Math.min(60, Math.max(1, Number(values.duration)));
const connections = Math.min(1000, Math.max(1, Number(values.connections)));
const rounds = Math.min(9, Math.max(1, Number(values.rounds)));
const WRK = ['/usr/bin/wrk', '/usr/local/bin/wrk'].find(existsSync);
const PYTHON = ['/usr/bin/python3', '/usr/local/bin/python3'].find(existsSync) ?? 'python3';

const python = join(here, 'servers', 'python_hello.py');
const SERVERS = {
  'BaseHTTPRequestHandler (ours)': [process.execPath, join(here, 'servers', 'ours.mjs')],
  'node:http': [process.execPath, join(here, 'servers', 'node-http.mjs')],
  "Python's http.server, as shipped": [PYTHON, python],
  "Python's http.server, Nagle off": [PYTHON, python, 'nodelay'],
  'node:net, no HTTP (the floor)': [process.execPath, join(here, 'servers', 'floor.mjs')],
};

/** Starts a server; resolves with the child and the port it prints. */
function start([command, ...args]) {
  // stderr ignored: Python prints a traceback for every connection wrk resets at the end.
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'ignore'], cwd: here });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${command} exited (${code})`)));
    child.stdout.once('data', (line) => resolve({ child, port: Number(String(line).trim()) }));
  });
}

function wrk(port, seconds) {
  const args = ['-t1', `-c${connections}`, `-d${seconds}s`, `http://127.0.0.1:${port}/`];
  return new Promise((resolve, reject) => {
    execFile(WRK, args, (error, stdout) => (error ? reject(error) : resolve(stdout)));
  });
}

/** CPU seconds (user + system) a process used so far; NaN where /proc is missing. */
function cpuSeconds(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

async function measure(command) {
  const { child, port } = await start(command);
  try {
    await wrk(port, 1); // warm-up
    const before = cpuSeconds(child.pid);
    const out = await wrk(port, duration);
    const requests = Number(/(\d+) requests in/.exec(out)?.[1]);
    const errors = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
    const cpuUs = ((cpuSeconds(child.pid) - before) * 1e6) / requests;
    return { rps: requests / duration, cpuUs, errors };
  } finally {
    child.kill('SIGKILL');
  }
}

if (!WRK) {
  console.log('wrk is not installed (Debian: apt-get install wrk): skipped');
  process.exit(0);
}
const results = Object.fromEntries(Object.keys(SERVERS).map((name) => [name, []]));
for (let round = 0; round < rounds; round++) {
  for (const [name, command] of Object.entries(SERVERS)) {
    results[name].push(await measure(command).catch((error) => ({ skipped: error.message })));
  }
}
const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rows = Object.entries(results).map(([name, runs]) => {
  const ok = runs.filter((run) => !run.skipped);
  return {
    name,
    skipped: ok.length === 0 ? runs[0]?.skipped : undefined,
    runs: ok,
    rps: median(ok.map((r) => r.rps)),
    cpuUs: median(ok.map((r) => r.cpuUs)),
  };
});
const ours = rows[0];
console.log(
  `\nwrk -t1 -c${connections} -d${duration}s, GET / (13-byte body), ${rounds} rounds; medians\n`,
);
console.log('| server | req/s (each round) | ours / it | CPU µs per request | it / ours |');
console.log('|---|---:|---:|---:|---:|');
for (const row of rows) {
  if (row.skipped) {
    console.log(`| ${row.name} | skipped: ${row.skipped} | | | |`);
    continue;
  }
  const each = row.runs.map((r) => r.rps.toFixed(0)).join(', ');
  console.log(
    `| ${row.name} | ${row.rps?.toFixed(0)} (${each}) | ${(ours.rps / row.rps).toFixed(2)}x | ${row.cpuUs?.toFixed(1)} | ${(row.cpuUs / ours.cpuUs).toFixed(2)}x |`,
  );
}
const errors = rows.flatMap((row) => row.runs).reduce((sum, run) => sum + run.errors, 0);
if (errors > 0) console.log(`\n${errors} non-2xx responses: the figures are not valid`);
