/** examples/hello.mjs, run as a user would: node, then curl-like requests on TCP and the Unix socket. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { raw, statusOf, tempDir } from './helpers.js';

const EXAMPLE = resolve(import.meta.dirname, '..', 'examples', 'hello.mjs');
const temp = tempDir();
afterAll(() => temp.cleanup());

describe('examples/hello.mjs', () => {
  it('answers JSON on TCP and on the Unix socket, and stops on SIGINT', async () => {
    const path = join(temp.dir, 'hello.sock');
    const child = spawn(process.execPath, [EXAMPLE, '0', path], {
      cwd: resolve(import.meta.dirname, '..'),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    try {
      const line = await new Promise<string>((ready, fail) => {
        let out = '';
        child.stdout.on('data', (chunk) => {
          out += chunk;
          if (out.includes('\n')) ready(out);
        });
        void exited.then((code) => fail(new Error(`exited ${code}: ${stderr}`)));
      });
      const port = Number(/127\.0\.0\.1:(\d+)\//.exec(line)![1]);
      expect(line).toBe(`http://127.0.0.1:${port}/ and unix:${path}\n`);
      for (const to of [port, path]) {
        const reply = await raw(
          to,
          'GET /hi?there HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
        );
        expect(statusOf(reply)).toBe(200);
        const [head, body] = reply.toString().split('\r\n\r\n') as [string, string];
        expect(head).toMatch(/\r\nContent-Type: application\/json\r\n/);
        expect(JSON.parse(body)).toEqual({ hello: 'world', path: '/hi?there' });
      }
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(existsSync(path)).toBe(false);
      expect(stderr).toMatch(
        /^127\.0\.0\.1 - - \[.*\] "GET \/hi\?there HTTP\/1\.1" 200 -\nunix - - /,
      );
    } finally {
      child.kill('SIGKILL');
    }
  });
});
