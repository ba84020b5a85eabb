// The machine's own ceiling for the CPU scenario, with no server at all:
// how many SHA-256 rounds per second 1 thread and 2 threads complete.
//   node packages/mixin-threading/bench/ceiling.mjs
// ThreadingMixIn cannot beat EventLoopMixIn by more than this ratio.
import { Worker } from 'node:worker_threads';

const handlers = new URL('./handlers.mjs', import.meta.url).href;
const body = `
const { parentPort } = require('node:worker_threads');
import(${JSON.stringify(handlers)}).then(({ burn }) => {
  burn(500);
  const start = Date.now();
  let rounds = 0;
  while (Date.now() - start < 2000) { burn(200); rounds += 200; }
  parentPort.postMessage(rounds / ((Date.now() - start) / 1000));
});`;

/** Rounds per second of `burn` completed by `threads` threads at once (2 s). */
export async function roundsPerSecond(threads) {
  const each = await Promise.all(
    Array.from(
      { length: threads },
      () =>
        new Promise((resolve, reject) => {
          const worker = new Worker(body, { eval: true });
          worker.once('message', resolve);
          worker.once('error', reject);
        }),
    ),
  );
  return each.reduce((sum, n) => sum + n, 0);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const results = [];
  for (let i = 0; i < 3; i++) {
    const one = await roundsPerSecond(1);
    const two = await roundsPerSecond(2);
    results.push(two / one);
    console.log(
      `1 thread: ${one.toFixed(0)} rounds/s, 2 threads: ${two.toFixed(0)} rounds/s, ratio ${(two / one).toFixed(2)}x`,
    );
  }
  console.log(`best ratio ${Math.max(...results).toFixed(2)}x`);
}
