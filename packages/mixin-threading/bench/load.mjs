// Load generator, run as a separate process by run-load.mjs (for run.mjs and floor.mjs):
//   node load.mjs <cpu|echo> <port> <connections> <warmupMs> <durationMs>
// cpu: each connection slot repeatedly opens a connection, sends a line,
// reads the reply, and waits for the close (one request per connection).
// echo: each connection is kept and sends a line, waits for the echo, and
// sends the next. Prints {"completed": n, "elapsedMs": t} for the measured
// window (after the warm-up), and this client's own CPU time per request
// ("clientCpuUs", over the whole run). Every loop is bounded by time.
import { connect } from 'node:net';

const [mode, portText, connectionsText, warmupText, durationText] = process.argv.slice(2);
const port = Number(portText);
const connections = Number(connectionsText);
const warmup = Number(warmupText);
const duration = Number(durationText);
const start = Date.now();
const measureFrom = start + warmup;
const stopAt = measureFrom + duration;
let completed = 0;
let all = 0;
let errors = 0;
const count = () => {
  all++;
  if (Date.now() >= measureFrom) completed++;
};

function oneRequest() {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let got = false;
    socket.on('data', (chunk) => {
      if (chunk.includes(10)) got = true;
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      if (got) count();
      else errors++;
      resolve();
    });
    socket.write('x\n');
  });
}

async function cpuSlot() {
  while (Date.now() < stopAt) await oneRequest();
}

function echoSlot() {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    const line = Buffer.from(`${'p'.repeat(63)}\n`);
    let pending = 0;
    socket.on('data', (chunk) => {
      pending -= chunk.length;
      if (pending > 0) return;
      count();
      if (Date.now() >= stopAt) {
        socket.end();
        return;
      }
      pending = line.length;
      socket.write(line);
    });
    socket.on('error', () => {
      errors++;
    });
    socket.on('close', resolve);
    socket.on('connect', () => {
      pending = line.length;
      socket.write(line);
    });
  });
}

const slot = mode === 'cpu' ? cpuSlot : echoSlot;
await Promise.all(Array.from({ length: connections }, slot));
const elapsedMs = Math.max(1, Math.min(Date.now(), stopAt) - measureFrom);
const cpu = process.cpuUsage();
const clientCpuUs = (cpu.user + cpu.system) / Math.max(1, all);
process.stdout.write(`${JSON.stringify({ completed, errors, elapsedMs, clientCpuUs })}\n`);
