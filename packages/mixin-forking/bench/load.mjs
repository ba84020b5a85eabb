// The load generator, run in its own process:
//   node bench/load.mjs short <port> <concurrency> <connections>
//   node bench/load.mjs kept  <port> <concurrency> <roundTripsPerConnection>
// `short`: connect, send one line, read the echo, close; `kept`: one
// connection per worker, one line per round trip (the clock starts once
// every connection is open and has made one round trip). Loopback only; every
// loop is bounded. Prints one JSON line: { ops, seconds, rate, errors }.
import { connect } from 'node:net';

const [mode, portText, concurrencyText, countText] = process.argv.slice(2);
const port = Number(portText);
const concurrency = Number(concurrencyText);
const count = Number(countText);
const LINE = 'hello world, this is one line of the benchmark\n';
let errors = 0;

function open() {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', noDelay: true });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Sends LINE and resolves when the whole echo is back. */
function roundTrip(socket) {
  return new Promise((resolve, reject) => {
    let got = 0;
    const onData = (chunk) => {
      got += chunk.length;
      if (got >= LINE.length) {
        socket.off('data', onData);
        socket.off('error', reject);
        resolve();
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(LINE);
  });
}

async function shortWorker(quota) {
  for (let i = 0; i < quota; i++) {
    try {
      const socket = await open();
      await roundTrip(socket);
      socket.end();
      await new Promise((resolve) => socket.once('close', resolve));
    } catch {
      errors++;
    }
  }
}

async function keptWorker(socket, rounds) {
  for (let i = 0; i < rounds; i++) await roundTrip(socket);
  socket.end();
  await new Promise((resolve) => socket.once('close', resolve));
}

const guard = setTimeout(() => {
  process.stderr.write('load: time limit reached\n');
  process.exit(2);
}, 120_000);
// Kept connections: open them all and make one round trip on each before the
// clock starts, so that only round trips on established connections count.
const kept =
  mode === 'kept'
    ? await Promise.all(
        Array.from({ length: concurrency }, async () => {
          const socket = await open();
          await roundTrip(socket);
          return socket;
        }),
      )
    : [];
const started = process.hrtime.bigint();
const workers = [];
let ops;
if (mode === 'short') {
  const per = Math.floor(count / concurrency);
  for (let i = 0; i < concurrency; i++) workers.push(shortWorker(per));
  ops = per * concurrency;
} else {
  for (const socket of kept) workers.push(keptWorker(socket, count));
  ops = count * concurrency;
}
await Promise.all(workers);
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
clearTimeout(guard);
process.stdout.write(
  `${JSON.stringify({ ops: ops - errors, seconds, rate: (ops - errors) / seconds, errors })}\n`,
);
