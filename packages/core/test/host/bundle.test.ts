/**
 * An app bundled with esbuild starts its worker threads and child
 * processes: the host runtime travels inside the bundle as a string, so no
 * file of @socketserver has to be found next to it. The bundle runs from a
 * directory with no node_modules.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterEach, describe, expect, it } from 'vitest';
import { HOST, LineClient } from './helpers.js';

const source = (name: string) =>
  fileURLToPath(new URL(`./fixtures/bundle/${name}`, import.meta.url));

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Bundles the app into a fresh directory; `recipe`: the handler module as an entry of its own, kept external. */
async function bundle(recipe: boolean): Promise<string> {
  const out = await mkdtemp(join(tmpdir(), 'ssbundle-'));
  cleanups.push(() => rm(out, { recursive: true, force: true }));
  await build({
    entryPoints: recipe
      ? { server: source('server.ts'), handlers: source('handlers.ts') }
      : { server: source('server.ts') },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outdir: out,
    // The recipe: the server imports its handlers' own bundle at run time.
    external: recipe ? ['./handlers.js'] : [],
    logLevel: 'silent',
  });
  await writeFile(join(out, 'package.json'), '{ "type": "module" }\n');
  return out;
}

/** Runs the bundled app; resolves with its first line. */
function run(dir: string): Promise<string> {
  const child: ChildProcess = spawn(process.execPath, [join(dir, 'server.js')], {
    cwd: dir,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  cleanups.push(() => child.kill('SIGKILL'));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk) => {
      out += chunk;
      const at = out.indexOf('\n');
      if (at >= 0) resolve(out.slice(0, at));
    });
    child.on('exit', (code) => reject(new Error(`the app exited (${code}) before it was ready`)));
  });
}

describe('an app bundled with esbuild', () => {
  it('starts worker threads and child processes, which serve its handler', async () => {
    const ready = await run(await bundle(true));
    expect(ready).toMatch(/^READY \d+ \d+$/);
    const [, threads, children] = ready.split(' ').map(Number);
    const hosts = new Set<string>();
    for (const port of [threads!, children!]) {
      const client = await LineClient.open({ host: HOST, port, family: 'IPv4' });
      const reply = (await client.ask('bundled\n'))!;
      expect(reply).toMatch(/^BUNDLED \d+\/\d+$/);
      hosts.add(reply.split(' ')[1]!);
      client.close();
    }
    // One worker thread of the app, one child process of its own.
    expect(hosts.size).toBe(2);
  });

  it('with the handler bundled into the app, fails at once with what to do', async () => {
    const ready = await run(await bundle(false));
    expect(ready).toMatch(
      /^FAILED ERR_SOCKETSERVER_INVALID_ARGUMENT Upper is in the app's entry module/,
    );
    expect(ready).toContain(
      "entryPoints: ['server.ts', 'handlers.ts'], external: ['./handlers.js']",
    );
  });
});
