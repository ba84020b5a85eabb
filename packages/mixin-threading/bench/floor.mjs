// The floor of goal (b): what a kept-connection echo can reach when every
// round trip crosses to a per-connection thread and back, with NO handler
// machinery (no Duplex, no rfile/wfile, no handler class), next to the real
// servers. Same load as run.mjs (bench/load.mjs in a separate process).
//   pnpm --filter @socketserver/mixin-threading run build
//   node packages/mixin-threading/bench/floor.mjs [--duration 3000] [--rounds 3] [--connections 4]
// Servers, each over one net.Server on loopback:
//   event-loop   core's EventLoopMixIn with the bench's EchoHandler (goal (b)'s baseline)
//   plain        socket.on('data', c => socket.write(c)) on the main thread
//   raw-post     one worker per connection; bytes go main -> worker -> main as
//                postMessage({ chunk }) (copied 64-byte Uint8Array), echoed as is
//   raw-ring     one worker per connection; bytes go through two SharedArrayBuffer
//                rings (one per direction), woken by Atomics.notify, waited on
//                by Atomics.waitAsync on both sides
//   raw-block    as raw-ring, but the worker waits with a blocking Atomics.wait
//                (no event loop turn in the worker: the cheapest possible wake)
//   threading    ThreadingMixIn with the bench's EchoHandler, one thread per connection
// Each mode runs --rounds times, interleaved; the median is printed. Every
// run is bounded in time and stops its server, workers and load process.
import { createServer } from 'node:net';
import { availableParallelism, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { runLoad } from './run-load.mjs';

const RING = 64 * 1024;

if (!isMainThread) runWorker();
else await main();

/** Copies `n` bytes out of a ring from absolute position `from`. */
function ringRead(ring, from, n) {
  const out = Buffer.allocUnsafe(n);
  const at = from % RING;
  const first = Math.min(n, RING - at);
  out.set(ring.subarray(at, at + first));
  if (first < n) out.set(ring.subarray(0, n - first), first);
  return out;
}

/** Copies `bytes` into a ring at absolute position `to` (the caller checked the room). */
function ringWrite(ring, to, bytes) {
  const at = to % RING;
  const first = Math.min(bytes.length, RING - at);
  ring.set(first === bytes.length ? bytes : bytes.subarray(0, first), at);
  if (first < bytes.length) ring.set(bytes.subarray(first), 0);
}

function runWorker() {
  const { mode } = workerData;
  if (mode === 'raw-post') {
    parentPort.on('message', (m) => parentPort.postMessage({ chunk: Uint8Array.from(m.chunk) }));
    return;
  }
  // ctl: [0] inbound written, [1] inbound read, [2] outbound written, [3] outbound read
  const ctl = new Int32Array(workerData.ctl);
  const inbound = new Uint8Array(workerData.inbound);
  const outbound = new Uint8Array(workerData.outbound);
  parentPort.on('message', () => {}); // keeps the worker alive (waitAsync does not)
  let seen = 0;
  const turn = () => {
    const written = Atomics.load(ctl, 0);
    if (written !== seen) {
      const bytes = ringRead(inbound, seen, written - seen);
      seen = written;
      Atomics.store(ctl, 1, written);
      // The reader here is the bench client, one 64-byte line at a time: always room.
      const out = ctl[2];
      ringWrite(outbound, out, bytes);
      Atomics.store(ctl, 2, out + bytes.length);
      Atomics.notify(ctl, 2);
    }
    if (mode === 'raw-block') {
      Atomics.wait(ctl, 0, written, 1000);
      setImmediate(turn); // let termination and messages in between waits
      return;
    }
    const wait = Atomics.waitAsync(ctl, 0, written);
    if (wait.async) wait.value.then(turn);
    else turn();
  };
  turn();
}

async function rawServer(mode) {
  const workers = new Set();
  const server = createServer({ noDelay: true }, (socket) => {
    socket.on('error', () => {});
    if (mode === 'plain') {
      socket.on('data', (chunk) => socket.write(chunk));
      return;
    }
    const script = new URL(import.meta.url);
    if (mode === 'raw-post') {
      const worker = new Worker(script, { workerData: { mode } });
      workers.add(worker);
      socket.on('data', (chunk) => worker.postMessage({ chunk: Uint8Array.from(chunk) }));
      worker.on('message', ({ chunk }) =>
        socket.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)),
      );
      socket.on('close', () => void worker.terminate());
      return;
    }
    const ctl = new Int32Array(new SharedArrayBuffer(16));
    const inbound = new Uint8Array(new SharedArrayBuffer(RING));
    const outbound = new Uint8Array(new SharedArrayBuffer(RING));
    const worker = new Worker(script, {
      workerData: { mode, ctl: ctl.buffer, inbound: inbound.buffer, outbound: outbound.buffer },
    });
    workers.add(worker);
    socket.on('data', (chunk) => {
      const written = ctl[0];
      ringWrite(inbound, written, chunk); // one 64-byte line in flight: always room
      Atomics.store(ctl, 0, written + chunk.length);
      Atomics.notify(ctl, 0);
    });
    let closed = false;
    let seen = 0;
    const turn = () => {
      if (closed) return;
      const written = Atomics.load(ctl, 2);
      if (written !== seen) {
        socket.write(ringRead(outbound, seen, written - seen));
        seen = written;
        Atomics.store(ctl, 3, written);
      }
      const wait = Atomics.waitAsync(ctl, 2, written);
      if (wait.async) wait.value.then(turn);
      else turn();
    };
    turn();
    socket.on('close', () => {
      closed = true;
      void worker.terminate();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: server.address().port,
    async close() {
      await Promise.all([...workers].map((worker) => worker.terminate()));
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function socketServer(mode, connections) {
  const { EventLoopMixIn } = await import('@socketserver/core');
  const { TCPServer } = await import('@socketserver/transport-inet');
  const { ThreadingMixIn } = await import('../dist/index.js');
  const { EchoHandler } = await import('./handlers.mjs');
  const Base = mode === 'threading' ? ThreadingMixIn(TCPServer) : EventLoopMixIn(TCPServer);
  class Server extends Base {}
  const server = await Server.create({ host: '127.0.0.1', port: 0 }, EchoHandler, {
    requestQueueSize: 128,
    ...(mode === 'threading' ? { maxThreads: connections } : {}),
  });
  if (typeof server.startThreads === 'function') await server.startThreads();
  const serving = server.serveForever({ pollInterval: 100 });
  return {
    port: server.serverAddress.port,
    async close() {
      await server.shutdown();
      await serving;
      await server.serverClose();
    },
  };
}

async function main() {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '3000' },
      warmup: { type: 'string', default: '500' },
      rounds: { type: 'string', default: '3' },
      connections: { type: 'string', default: '4' },
      modes: { type: 'string', default: 'event-loop,plain,raw-post,raw-ring,raw-block,threading' },
    },
  });
  const duration = Number(values.duration);
  const warmup = Number(values.warmup);
  const connections = Number(values.connections);
  const modes = values.modes.split(',');
  console.log(
    `node ${process.version}, ${availableParallelism()} CPUs, ${connections} kept connections, ` +
      `64-byte lines, one round trip at a time each, ${values.rounds} rounds of ${duration} ms; ` +
      `load average before: ${loadavg()
        .map((n) => n.toFixed(2))
        .join(' ')}`,
  );
  const results = new Map(modes.map((mode) => [mode, []]));
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const mode of modes) {
      const server =
        mode === 'event-loop' || mode === 'threading'
          ? await socketServer(mode, connections)
          : await rawServer(mode);
      try {
        const cpu0 = process.cpuUsage();
        const t0 = Date.now();
        const result = await runLoad('echo', server.port, connections, warmup, duration);
        const cpu = process.cpuUsage(cpu0);
        const cores = (cpu.user + cpu.system) / 1000 / (Date.now() - t0);
        const perSecond = (result.completed * 1000) / result.elapsedMs;
        results.get(mode).push({
          perSecond,
          cpuPerTrip: (cores * 1e6) / perSecond,
          clientCpu: result.clientCpuUs,
        });
      } finally {
        await server.close();
      }
    }
  }
  const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const base = median(results.get('event-loop')?.map((r) => r.perSecond) ?? [Number.NaN]);
  console.log(
    '| server | round trips/s (median) | all runs | vs event-loop | server CPU per round trip, us (median) | client CPU per round trip, us (median) |',
  );
  console.log('|---|---|---|---|---|---|');
  for (const [mode, runs] of results) {
    const rates = runs.map((r) => r.perSecond);
    console.log(
      `| ${mode} | ${median([...rates]).toFixed(0)} | ${rates.map((r) => r.toFixed(0)).join(' / ')} | ${(median([...rates]) / base).toFixed(2)}x | ${median(runs.map((r) => r.cpuPerTrip)).toFixed(1)} | ${median(runs.map((r) => r.clientCpu)).toFixed(1)} |`,
    );
  }
  console.log(`load average after: ${loadavg()[0].toFixed(2)}`);
}
