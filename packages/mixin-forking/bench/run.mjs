// Runs the forking benchmarks and prints a table:
//   node bench/run.mjs            (after `pnpm --filter @socketserver/mixin-forking run build`)
// 1. short connections/s (connect, one line, close): ForkingMixIn(TCPServer)
//    vs Python's socketserver.ForkingTCPServer, same echo, same load, with
//    1 and 8 concurrent clients.
// 2. kept-connection echo round trips/s: ForkingMixIn vs EventLoopMixIn,
//    with 1, 2 and 8 connections.
// Servers and the load generator run in their own processes, on loopback;
// each phase is bounded, and every process started is stopped.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = (name) => fileURLToPath(new URL(name, import.meta.url));
const SHORT = { connections: 2000, warmup: 1000 };
// Each child warms up its own JIT: warm-ups are long enough for every child to be warm.
const KEPT = { rounds: 5000, warmup: 3000 };
const REPEAT = 5;

function startServer(kind) {
  const child =
    kind === 'python'
      ? spawn('python3', [here('./server.py')], { stdio: ['pipe', 'pipe', 'inherit'] })
      : spawn(process.execPath, [here('./server.mjs'), kind], {
          stdio: ['pipe', 'pipe', 'inherit'],
        });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (text) => {
      out += text;
      if (out.includes('\n')) resolve({ child, port: Number(out.trim()) });
    });
    child.once('exit', (code) => reject(new Error(`${kind} server exited (${code})`)));
  });
}

async function stopServer({ child }) {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.stdin.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

function load(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [here('./load.mjs'), ...args.map(String)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (text) => {
      out += text;
    });
    child.once('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`load exited (${code})`)),
    );
  });
}

/**
 * Measures two servers under the same load, alternating runs (A, B, A, B,
 * ...) so that a change in the machine's load hits both alike. Returns the
 * median rate of each.
 */
async function compare(kindA, kindB, mode, concurrency) {
  const plan = mode === 'short' ? SHORT : KEPT;
  const count = mode === 'short' ? plan.connections : Math.round(plan.rounds * (8 / concurrency));
  const servers = [await startServer(kindA), await startServer(kindB)];
  try {
    const rates = [[], []];
    for (const server of servers) await load([mode, server.port, concurrency, plan.warmup]);
    for (let i = 0; i < REPEAT; i++) {
      for (const [index, server] of servers.entries()) {
        const result = await load([mode, server.port, concurrency, count]);
        if (result.errors > 0) throw new Error(`${mode}: ${result.errors} errors`);
        rates[index].push(result.rate);
      }
    }
    return rates.map((list) => list.sort((a, b) => a - b)[Math.floor(list.length / 2)]);
  } finally {
    for (const server of servers) await stopServer(server);
  }
}

const fmt = (n) => Math.round(n).toLocaleString('en-US');
const rows = [];
for (const concurrency of [1, 8]) {
  const [forking, python] = await compare('forking', 'python', 'short', concurrency);
  rows.push([
    `short connections/s, ${concurrency} client(s)`,
    `ForkingMixIn ${fmt(forking)}`,
    `Python ForkingTCPServer ${fmt(python)}`,
    `${(forking / python).toFixed(2)}x (goal >= 2x)`,
  ]);
}
for (const concurrency of [1, 2, 8]) {
  const [forking, eventLoop] = await compare('forking', 'eventloop', 'kept', concurrency);
  rows.push([
    `kept-connection round trips/s, ${concurrency} connection(s)`,
    `ForkingMixIn ${fmt(forking)}`,
    `EventLoopMixIn ${fmt(eventLoop)}`,
    `${(forking / eventLoop).toFixed(2)}x (goal >= 0.8x)`,
  ]);
}
console.log(`node ${process.version}, median of ${REPEAT} alternating runs after a warm-up`);
for (const row of rows) console.log(`| ${row.join(' | ')} |`);
