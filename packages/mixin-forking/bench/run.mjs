// Runs the forking benchmarks and prints a table:
//   node bench/run.mjs            (after `pnpm --filter @socketserver/mixin-forking run build`)
// 1. short connections/s: ForkingMixIn(TCPServer) vs Python's
//    socketserver.ForkingTCPServer, same echo, same load.
// 2. kept-connection echo round trips/s: ForkingMixIn vs EventLoopMixIn.
// Servers and the load generator run in their own processes, on loopback;
// each phase is bounded, and every process started is stopped.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = (name) => fileURLToPath(new URL(name, import.meta.url));
const SHORT = { concurrency: 8, connections: 4000, warmup: 400 };
const KEPT = { concurrency: 8, rounds: 4000, warmup: 200 };
const REPEAT = 3;

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

async function measure(kind, mode) {
  const server = await startServer(kind);
  try {
    const plan = mode === 'short' ? SHORT : KEPT;
    const count = mode === 'short' ? plan.connections : plan.rounds;
    await load([mode, server.port, plan.concurrency, plan.warmup]);
    const rates = [];
    for (let i = 0; i < REPEAT; i++) {
      const result = await load([mode, server.port, plan.concurrency, count]);
      if (result.errors > 0) throw new Error(`${kind} ${mode}: ${result.errors} errors`);
      rates.push(result.rate);
    }
    return rates.sort((a, b) => a - b)[Math.floor(rates.length / 2)];
  } finally {
    await stopServer(server);
  }
}

const fmt = (n) => Math.round(n).toLocaleString('en-US');
const rows = [];
const forkingShort = await measure('forking', 'short');
const pythonShort = await measure('python', 'short');
rows.push([
  `short connections/s (${SHORT.concurrency} clients)`,
  `ForkingMixIn ${fmt(forkingShort)}`,
  `Python ForkingTCPServer ${fmt(pythonShort)}`,
  `${(forkingShort / pythonShort).toFixed(2)}x (goal >= 2x)`,
]);
const forkingKept = await measure('forking', 'kept');
const eventLoopKept = await measure('eventloop', 'kept');
rows.push([
  `kept-connection round trips/s (${KEPT.concurrency} connections)`,
  `ForkingMixIn ${fmt(forkingKept)}`,
  `EventLoopMixIn ${fmt(eventLoopKept)}`,
  `${(forkingKept / eventLoopKept).toFixed(2)}x (goal >= 0.8x)`,
]);
console.log(`node ${process.version}, median of ${REPEAT} runs after a warm-up`);
for (const row of rows) console.log(row.join(' | '));
