/**
 * Each flag of the static-server set end to end, with the command run as a
 * child process and real clients: curl (its own brotli and gzip decoders)
 * and Node's fetch.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../../packages/http/test/helpers.js';
import { runCli, startCli, stderrContains, stopAllClis } from './helpers.js';

const run = promisify(execFile);
const temp = tempDir();
const www = join(temp.dir, 'www');
const SCRIPT = Buffer.from("export function greet(name) { return 'hello ' + name; }\n".repeat(300));
const STYLE = Buffer.from('main { display: grid; gap: 1rem; }\n'.repeat(200));

beforeAll(() => {
  mkdirSync(join(www, 'assets'), { recursive: true });
  writeFileSync(join(www, 'index.html'), '<!doctype html><title>app</title><div id="app"></div>\n');
  writeFileSync(join(www, 'assets', 'app.js'), SCRIPT);
  writeFileSync(join(www, 'assets', 'app.js.br'), brotliCompressSync(SCRIPT));
  writeFileSync(join(www, 'assets', 'app.js.gz'), gzipSync(SCRIPT));
  writeFileSync(join(www, 'assets', 'style.css'), STYLE);
  writeFileSync(join(www, 'assets', 'main.3f2a9c1b.js'), 'hashed');
});
afterAll(() => {
  stopAllClis();
  temp.cleanup();
});

/** curl's status, headers (lower-cased names) and body (decoded with --compressed). */
async function curl(url: string, ...args: string[]) {
  const out = join(temp.dir, `curl-${Math.random().toString(36).slice(2)}`);
  const { stdout } = await run('curl', ['-sS', '-D', '-', '-o', out, ...args, url]);
  const [statusLine, ...lines] = stdout.trim().split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = Buffer.alloc(0);
  try {
    body = readFileSync(out);
  } catch {
    // no body (HEAD, 204, 304)
  }
  return { status: Number(statusLine!.split(' ')[1]), headers, body };
}

async function serving(args: string[]) {
  const cli = await startCli(www, ['0', '-b', '127.0.0.1', '--quiet', ...args]);
  return { cli, base: `http://127.0.0.1:${cli.port}` };
}

describe('flags', () => {
  it('--version prints the package version; -p/--port is the positional port', async () => {
    const { version } = JSON.parse(
      readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8'),
    );
    const printed = await runCli(www, ['--version']);
    expect([printed.code, printed.stdout]).toEqual([0, `socketserver-http ${version}\n`]);
    const cli = await startCli(www, ['-p', '0', '-b', '127.0.0.1', '--quiet']);
    expect(cli.line).toMatch(/^Serving HTTP on 127\.0\.0\.1 port \d+ /);
    const both = await runCli(www, ['8000', '--port', '8001']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('give the port once');
    cli.child.kill('SIGTERM');
    expect(await cli.exited).toBe(0);
  });

  it('--compress: precompressed br and gzip, compressed text, each decoded by curl to the source; Range never', async () => {
    const { cli, base } = await serving(['--compress']);
    for (const coding of ['br', 'gzip']) {
      const script = await curl(
        `${base}/assets/app.js`,
        '--compressed',
        '-H',
        `Accept-Encoding: ${coding}`,
      );
      expect(script.headers['content-encoding']).toBe(coding);
      expect(script.headers.vary).toBe('Accept-Encoding');
      expect(script.body.equals(SCRIPT)).toBe(true);
      const style = await curl(
        `${base}/assets/style.css`,
        '--compressed',
        '-H',
        `Accept-Encoding: ${coding}`,
      );
      expect(style.headers['content-encoding']).toBe(coding);
      expect(style.body.equals(STYLE)).toBe(true);
    }
    // curl --compressed asks for every coding it has: brotli first here.
    expect((await curl(`${base}/assets/app.js`, '--compressed')).headers['content-encoding']).toBe(
      'br',
    );
    const part = await curl(`${base}/assets/app.js`, '--compressed', '-r', '10-19');
    expect(part.status).toBe(206);
    expect(part.headers['content-encoding']).toBeUndefined();
    expect(part.body.equals(SCRIPT.subarray(10, 20))).toBe(true);
    const plain = await curl(`${base}/assets/app.js`);
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.body.equals(SCRIPT)).toBe(true);
    cli.child.kill('SIGTERM');
    expect(await cli.exited).toBe(0);
  });

  it('--cors: a preflight for GET answered, the origin allowed on responses', async () => {
    const { cli, base } = await serving(['--cors']);
    const preflight = await fetch(`${base}/assets/app.js`, {
      method: 'OPTIONS',
      headers: {
        Origin: 'https://elsewhere.example',
        'Access-Control-Request-Method': 'GET',
        'Access-Control-Request-Headers': 'x-requested-with',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('*');
    expect(preflight.headers.get('access-control-allow-methods')).toBe('GET, HEAD, OPTIONS');
    expect(preflight.headers.get('access-control-allow-headers')).toBe('x-requested-with');
    const response = await fetch(`${base}/index.html`, {
      headers: { Origin: 'https://elsewhere.example' },
    });
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    cli.child.kill('SIGTERM');
    expect(await cli.exited).toBe(0);
    const { cli: one, base: oneBase } = await serving(['--cors', 'https://app.example']);
    const allowed = await fetch(`${oneBase}/index.html`);
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example');
    one.child.kill('SIGTERM');
    expect(await one.exited).toBe(0);
  });

  it('--spa: the app for unknown paths without an extension (200), a missing asset still 404', async () => {
    const { cli, base } = await serving(['--spa']);
    const deep = await fetch(`${base}/users/42/settings`);
    expect(deep.status).toBe(200);
    expect(await deep.text()).toContain('<div id="app">');
    expect((await fetch(`${base}/assets/missing.js`)).status).toBe(404);
    cli.child.kill('SIGTERM');
    expect(await cli.exited).toBe(0);
    // A file name after --spa; a number after it is the port.
    writeFileSync(join(www, 'shell.html'), 'the shell');
    const named = await startCli(www, ['--spa', 'shell.html', '0', '-b', '127.0.0.1', '--quiet']);
    expect(await (await fetch(`http://127.0.0.1:${named.port}/x`)).text()).toBe('the shell');
    named.child.kill('SIGTERM');
    expect(await named.exited).toBe(0);
    const numbered = await startCli(www, ['--spa', '0', '-b', '127.0.0.1', '--quiet']);
    expect(await (await fetch(`http://127.0.0.1:${numbered.port}/x`)).text()).toContain(
      '<div id="app">',
    );
    numbered.child.kill('SIGTERM');
    expect(await numbered.exited).toBe(0);
  });

  it('--cache: max-age on files, a year and immutable for hashed names, no-cache on listings', async () => {
    const { cli, base } = await serving(['--cache', '3600']);
    expect((await curl(`${base}/assets/app.js`)).headers['cache-control']).toBe(
      'public, max-age=3600',
    );
    expect((await curl(`${base}/assets/main.3f2a9c1b.js`)).headers['cache-control']).toBe(
      'public, max-age=31536000, immutable',
    );
    expect((await curl(`${base}/assets/`)).headers['cache-control']).toBe('no-cache');
    cli.child.kill('SIGTERM');
    expect(await cli.exited).toBe(0);
    const { cli: none, base: noneBase } = await serving(['--cache', '0', '--immutable', 'none']);
    expect((await curl(`${noneBase}/assets/main.3f2a9c1b.js`)).headers['cache-control']).toBe(
      'no-cache',
    );
    none.child.kill('SIGTERM');
    expect(await none.exited).toBe(0);
  });

  it.each([
    [
      'common',
      /^127\.0\.0\.1 - - \[\d{2}\/\w{3}\/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] "GET \/index\.html HTTP\/1\.1" 200 \d+$/m,
    ],
    [
      'combined',
      /^127\.0\.0\.1 - - \[[^\]]+\] "GET \/index\.html HTTP\/1\.1" 200 \d+ "http:\/\/ref\.example\/" "curl\/[^"]+" \d+\.\d{3}$/m,
    ],
  ])('--log-format %s', async (format, pattern) => {
    const cli = await startCli(www, ['0', '-b', '127.0.0.1', '--log-format', format]);
    await curl(`http://127.0.0.1:${cli.port}/index.html`, '-e', 'http://ref.example/');
    await stderrContains(cli, '"GET /index.html HTTP/1.1" 200');
    expect(cli.stderr()).toMatch(pattern);
    cli.child.kill('SIGTERM');
    expect(await cli.exited).toBe(0);
  });

  it('--log-format json: one object per line', async () => {
    const cli = await startCli(www, ['0', '-b', '127.0.0.1', '--log-format', 'json']);
    await curl(`http://127.0.0.1:${cli.port}/assets/app.js`, '-A', 'tester/1.0');
    await stderrContains(cli, '"status":200');
    const record = JSON.parse(
      cli
        .stderr()
        .split('\n')
        .find((line) => line.startsWith('{'))!,
    );
    expect(record).toMatchObject({
      client: '127.0.0.1',
      method: 'GET',
      path: '/assets/app.js',
      status: 200,
      bytes: SCRIPT.length,
      user_agent: 'tester/1.0',
      referrer: null,
    });
    expect(typeof record.duration_ms).toBe('number');
    cli.child.kill('SIGTERM');
    expect(await cli.exited).toBe(0);
  });

  it.each(['threading', 'forking'])(
    '--mode %s carries the new settings to its workers',
    async (mode) => {
      const { cli, base } = await serving([
        '--mode',
        mode,
        '--compress',
        '--cors',
        '--cache',
        '60',
        '--spa',
      ]);
      const script = await curl(
        `${base}/assets/app.js`,
        '--compressed',
        '-H',
        'Accept-Encoding: gzip',
      );
      expect(script.headers['content-encoding']).toBe('gzip');
      expect(script.headers['access-control-allow-origin']).toBe('*');
      expect(script.headers['cache-control']).toBe('public, max-age=60');
      expect(script.body.equals(SCRIPT)).toBe(true);
      expect((await curl(`${base}/some/route`)).body.toString()).toContain('<div id="app">');
      cli.child.kill('SIGTERM');
      expect(await cli.exited).toBe(0);
    },
  );

  it.each([
    [['--log-format', 'apache'], 'invalid --log-format apache'],
    [['--cache', 'soon'], 'invalid --cache soon'],
    [['--immutable', '('], 'invalid --immutable'],
    [['--spa='], '--spa= needs a file name'],
  ])('%j is a usage error (exit 2)', async (args, message) => {
    const { code, stderr } = await runCli(www, args);
    expect(code).toBe(2);
    expect(stderr).toMatch(/^usage: socketserver-http /);
    expect(stderr).toContain(message);
  });
});
