/**
 * Handler modules written in TypeScript run in worker threads and child
 * processes: through Node's own type stripping where the line has it
 * (22.18 and later), and under tsx on every line. Each server runs as its
 * own process, as a user's would.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { HOST, LineClient } from './helpers.js';

const server = fileURLToPath(new URL('./fixtures/ts/server.mjs', import.meta.url));
const tsx = createRequire(import.meta.url).resolve('tsx');
const stripping = Boolean((process.features as { typescript?: unknown }).typescript);

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

/** Starts the server; resolves with its first line (`READY port` or `FAILED ...`). */
function start(execArgv: string[], driver: 'thread' | 'process'): Promise<string> {
  const child = spawn(process.execPath, [...execArgv, server, driver], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk) => {
      out += chunk;
      const at = out.indexOf('\n');
      if (at >= 0) resolve(out.slice(0, at));
    });
    child.on('exit', (code) => reject(new Error(`server exited (${code}) before it was ready`)));
  });
}

async function ask(ready: string): Promise<string | null> {
  const port = Number(ready.split(' ')[1]);
  const client = await LineClient.open({ host: HOST, port, family: 'IPv4' });
  const reply = await client.ask('three typed words\n');
  client.close();
  return reply;
}

describe(`TypeScript handler modules in hosts (${process.version})`, () => {
  for (const driver of ['thread', 'process'] as const) {
    it(`under tsx: a ${driver === 'thread' ? 'worker thread' : 'child process'} runs a .ts handler`, async () => {
      const ready = await start(['--import', tsx], driver);
      expect(ready).toMatch(/^READY \d+$/);
      expect(await ask(ready)).toMatch(/^ts 3 \d+\/\d+$/);
    });

    it(
      stripping
        ? `with Node's type stripping: a ${driver === 'thread' ? 'worker thread' : 'child process'} runs a .ts handler`
        : `without type stripping (this line) or tsx: ${driver === 'thread' ? 'a worker thread' : 'a child process'} refuses a .ts handler with the fix`,
      async () => {
        const ready = await start([], driver);
        if (stripping) {
          expect(ready).toMatch(/^READY \d+$/);
          expect(await ask(ready)).toMatch(/^ts 3 \d+\/\d+$/);
        } else {
          expect(ready).toMatch(
            /^FAILED ERR_SOCKETSERVER_UNSUPPORTED .*is TypeScript.*run the app under tsx/,
          );
        }
      },
    );
  }
});
