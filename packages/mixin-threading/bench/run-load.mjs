// Runs `load.mjs` in its own process and resolves with the JSON it prints.
// Shared by run.mjs and floor.mjs.
import { execFile } from 'node:child_process';

/**
 * One load run against 127.0.0.1:`port`: `mode` is `cpu` or `echo`, with
 * `connections` clients, `warmup` ms not counted, then `duration` ms
 * measured. Rejects if the load process fails or outlives its run by 30 s.
 */
export function runLoad(mode, port, connections, warmup, duration) {
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      [
        new URL('./load.mjs', import.meta.url).pathname,
        mode,
        String(port),
        String(connections),
        String(warmup),
        String(duration),
      ],
      { timeout: warmup + duration + 30_000 },
      (error, stdout) => (error ? reject(error) : resolve(JSON.parse(stdout))),
    );
    child.on('error', reject);
  });
}
