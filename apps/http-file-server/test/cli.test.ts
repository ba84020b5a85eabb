/** The `socketserver-http` command, run as a child process from dist/cli.js. */
import { existsSync, truncateSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// Raw-socket clients shared with @socketserver/http's tests.
import { RawClient, raw, statusOf, tempDir } from '../../../packages/http/test/helpers.js';
import {
  runCli as runCliIn,
  startCli as startCliIn,
  stderrContains,
  stopAllClis,
} from './helpers.js';

const temp = tempDir();

beforeAll(() => writeFileSync(join(temp.dir, 'hello.txt'), 'hello'));
afterAll(() => {
  stopAllClis();
  temp.cleanup();
});

const startCli = (args: string[]) => startCliIn(temp.dir, args);
const runCli = (args: string[]) => runCliIn(temp.dir, args);

describe('socketserver-http', () => {
  it('prints the real address for port 0, serves the directory, logs escaped lines, stops on SIGTERM', async () => {
    const cli = await startCli(['0', '-b', '127.0.0.1', '-d', temp.dir]);
    expect(cli.line).toBe(
      `Serving HTTP on 127.0.0.1 port ${cli.port} (http://127.0.0.1:${cli.port}/) ...\n`,
    );
    const response = await fetch(`http://127.0.0.1:${cli.port}/hello.txt`);
    expect(await response.text()).toBe('hello');
    await stderrContains(cli, '"GET /hello.txt HTTP/1.1" 200');
    expect(cli.stderr()).toMatch(
      /^127\.0\.0\.1 - - \[\d{2}\/\w{3}\/\d{4} \d{2}:\d{2}:\d{2}\] "GET \/hello\.txt HTTP\/1\.1" 200 -$/m,
    );
    const evil = await raw(cli.port, 'GET /\x1b[31mred\x07 HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(statusOf(evil)).toBe(400);
    await stderrContains(cli, '\\x1b[31mred\\x07');
    expect(cli.stderr()).not.toContain('\x1b');
    // An idle keep-alive connection does not hold the shutdown.
    const idle = await RawClient.connect(cli.port);
    idle.write('GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n');
    await idle.response();
    cli.child.kill('SIGTERM');
    expect(await cli.exited).toBe(0);
    await idle.waitClosed();
    expect(cli.stderr()).toContain('SIGTERM received, exiting.');
  });

  it('a shutdown does not wait for idle or silent connections, even at the connection cap', async () => {
    const cli = await startCli(['0', '-b', '127.0.0.1', '--max-connections', '1', '--quiet']);
    const idle = await RawClient.connect(cli.port);
    idle.write('GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n');
    await idle.response();
    // Waits for the only slot: the serving loop is blocked on it.
    const waiting = await RawClient.connect(cli.port);
    const signalled = Date.now();
    cli.child.kill('SIGTERM');
    expect(await cli.exited).toBe(0);
    // Far below the 5 s keep-alive and 10 s head limits that would otherwise end them.
    expect(Date.now() - signalled).toBeLessThan(4000);
    await idle.waitClosed();
    await waiting.waitClosed();
  });

  it('serves the current directory by default; SIGINT stops it; --quiet logs nothing', async () => {
    const cli = await startCli(['0', '--bind', '127.0.0.1', '--quiet']);
    expect(await (await fetch(`http://127.0.0.1:${cli.port}/hello.txt`)).text()).toBe('hello');
    cli.child.kill('SIGINT');
    expect(await cli.exited).toBe(0);
    expect(cli.stderr()).not.toContain('GET /hello.txt');
  });

  it('brackets an IPv6 address in the URL', async () => {
    const cli = await startCli(['0', '-b', '::1', '--quiet']);
    expect(cli.line).toBe(`Serving HTTP on ::1 port ${cli.port} (http://[::1]:${cli.port}/) ...\n`);
    cli.child.kill('SIGTERM');
    expect(await cli.exited).toBe(0);
  });

  it('--mode sync serves one connection at a time and closes each', async () => {
    const cli = await startCli(['0', '-b', '127.0.0.1', '--mode', 'sync', '--quiet']);
    const reply = (await raw(cli.port, 'GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n')).toString();
    expect(reply).toMatch(/\r\nConnection: close\r\n/);
    expect(reply.endsWith('hello')).toBe(true);
    cli.child.kill('SIGTERM');
    expect(await cli.exited).toBe(0);
  });

  it.each(['threading', 'forking'])(
    '--mode %s serves with the handler in workers or children, settings included',
    async (mode) => {
      const cli = await startCli([
        '0',
        '-b',
        '127.0.0.1',
        '--mode',
        mode,
        '-d',
        temp.dir,
        '--dotfiles',
        'allow',
        '--quiet',
      ]);
      writeFileSync(join(temp.dir, '.dot'), 'dot');
      // Several requests on one kept-alive connection, then a setting that only -d/--dotfiles give.
      const client = await RawClient.connect(cli.port);
      for (let i = 0; i < 3; i++) {
        client.write('GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n');
        expect((await client.response()).body.toString()).toBe('hello');
      }
      client.write('GET /.dot HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      expect((await client.response()).body.toString()).toBe('dot');
      expect(statusOf(await raw(cli.port, 'GET /../x HTTP/1.1\r\nHost: x\r\n\r\n'))).toBe(400);
      cli.child.kill('SIGTERM');
      expect(await cli.exited).toBe(0);
    },
  );

  it.each(['eventloop', 'threading', 'forking', 'sync'])(
    '--mode %s: SIGTERM closes idle connections within 1 s, wherever their handler runs',
    async (mode) => {
      const cli = await startCli(['0', '-b', '127.0.0.1', '--mode', mode, '--quiet']);
      const clients = await Promise.all([0, 1, 2].map(() => RawClient.connect(cli.port)));
      if (mode === 'sync') {
        // One connection at a time, no keep-alive: the one being served waits for its request.
        for (const client of clients.splice(1)) client.socket.destroy();
      } else {
        // Kept alive after a response: idle, waiting for the next request.
        for (const client of clients) {
          client.write('GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n');
          expect((await client.response()).body.toString()).toBe('hello');
        }
      }
      const started = Date.now();
      cli.child.kill('SIGTERM');
      await Promise.all(clients.map((client) => client.waitClosed()));
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(await cli.exited).toBe(0);
    },
  );

  it('--unix serves on a Unix socket and removes it on exit', async () => {
    const path = join(temp.dir, 'http.sock');
    const cli = await startCli(['--unix', path, '-d', temp.dir, '--quiet']);
    const reply = await new Promise<string>((done) => {
      const socket = connect(path);
      let text = '';
      socket.on('data', (chunk) => {
        text += chunk;
      });
      socket.on('close', () => done(text));
      socket.write('GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    });
    expect(reply.startsWith('HTTP/1.1 200 OK\r\n')).toBe(true);
    expect(reply.endsWith('hello')).toBe(true);
    cli.child.kill('SIGTERM');
    expect(await cli.exited).toBe(0);
    expect(existsSync(path)).toBe(false);
  });

  it('--unix replaces a stale socket file left by a killed server, refuses a live one (hole 6)', async () => {
    const path = join(temp.dir, 'stale.sock');
    const killed = await startCli(['--unix', path, '--quiet']);
    killed.child.kill('SIGKILL');
    await killed.exited;
    expect(existsSync(path)).toBe(true);
    const cli = await startCli(['--unix', path, '--quiet']);
    expect(cli.line).toBe(`Serving HTTP on unix socket ${path} ...\n`);
    const reply = await raw(
      path,
      'GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    expect(reply.toString().endsWith('\r\n\r\nhello')).toBe(true);
    const second = await runCli(['--unix', path]);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain('EADDRINUSE');
    cli.child.kill('SIGTERM');
    expect(await cli.exited).toBe(0);
    expect(existsSync(path)).toBe(false);
  });

  it('--quiet writes nothing for bad requests either (hole 4)', async () => {
    const cli = await startCli(['0', '-b', '127.0.0.1', '--quiet']);
    for (const request of [
      'GET /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc',
      'GET /\r\n',
      'GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n',
    ]) {
      await raw(cli.port, request, 8000, { end: true });
    }
    cli.child.kill('SIGTERM');
    expect(await cli.exited).toBe(0);
    expect(cli.stderr()).toBe('\nSIGTERM received, exiting.\n');
  });

  describe('stopping during a transfer (hole 9)', () => {
    const BIG = join(temp.dir, 'big.bin');
    beforeAll(() => {
      writeFileSync(BIG, '');
      truncateSync(BIG, 64 * 1024 * 1024);
    });

    /** A download whose client reads its first bytes, then nothing until told to. */
    async function stalledDownload(port: number) {
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => {});
      let received = 0;
      socket.on('data', (chunk) => {
        received += chunk.length;
      });
      const done = new Promise<number>((resolve) => socket.on('close', () => resolve(received)));
      socket.write('GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      await new Promise((started) => socket.once('data', started));
      socket.pause();
      return { socket, done };
    }

    it('says what it waits for and how long; a second Ctrl-C stops at once', async () => {
      const cli = await startCli(['0', '-b', '127.0.0.1', '--quiet']);
      const download = await stalledDownload(cli.port);
      cli.child.kill('SIGINT');
      await stderrContains(
        cli,
        'SIGINT received: waiting up to 10 s for 1 response in progress to finish (Ctrl-C again to stop now).',
      );
      const again = Date.now();
      cli.child.kill('SIGINT');
      expect(await cli.exited).toBe(130);
      expect(Date.now() - again).toBeLessThan(2000);
      expect(cli.stderr()).toContain(
        'SIGINT again: stopping now, cutting off 1 response in progress.',
      );
      download.socket.destroy();
    });

    it('a transfer that finishes within the wait ends with status 0', async () => {
      const cli = await startCli(['0', '-b', '127.0.0.1', '--quiet']);
      const download = await stalledDownload(cli.port);
      cli.child.kill('SIGTERM');
      await stderrContains(cli, 'SIGTERM received: waiting up to 10 s for 1 response in progress');
      download.socket.resume();
      expect(await cli.exited).toBe(0);
      expect(await download.done).toBeGreaterThan(64 * 1024 * 1024);
    });

    it('--shutdown-timeout: past it, the transfer is cut off with a message, status 1', async () => {
      const cli = await startCli(['0', '-b', '127.0.0.1', '--quiet', '--shutdown-timeout', '1']);
      const download = await stalledDownload(cli.port);
      cli.child.kill('SIGTERM');
      expect(await cli.exited).toBe(1);
      expect(cli.stderr()).toContain(
        'SIGTERM received: waiting up to 1 s for 1 response in progress',
      );
      expect(cli.stderr()).toContain(
        'socketserver-http: stopped waiting after 1 s, cutting off 1 response in progress.',
      );
      download.socket.destroy();
    });
  });

  it('--help prints the usage', async () => {
    const { code, stdout } = await runCli(['--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(
      /^usage: socketserver-http \[port\] \[-p\|--port PORT\] \[-b\|--bind ADDR\] \[-d\|--directory DIR\]\n/,
    );
    expect(stdout).toContain('--mode eventloop|threading|forking|sync');
    for (const flag of ['--cors', '--spa', '--cache', '--compress', '--log-format', '--version']) {
      expect(stdout).toContain(`\n  ${flag} `);
    }
  });

  it.each([
    [['--mode', 'fibers'], 'invalid --mode fibers'],
    [['70000'], 'invalid port: 70000'],
    [['abc'], 'invalid port: abc'],
    [['--nope'], "Unknown option '--nope'"],
    [['1', '2'], 'unrecognized arguments: 2'],
    [['--unix', '/tmp/x.sock', '8000'], '--unix cannot be combined'],
  ])('%j is a usage error (exit 2)', async (args, message) => {
    const { code, stderr } = await runCli(args);
    expect(code).toBe(2);
    expect(stderr).toContain('usage: socketserver-http');
    expect(stderr).toContain(message);
  });

  it('a directory that does not exist is an error (exit 1)', async () => {
    const { code, stderr } = await runCli(['0', '-d', join(temp.dir, 'missing')]);
    expect(code).toBe(1);
    expect(stderr).toContain('ERR_SOCKETSERVER_HTTP_NOT_A_DIRECTORY');
  });

  it('a port in use is an error (exit 1)', async () => {
    const blocker = createServer();
    await new Promise<void>((done) => blocker.listen(0, '127.0.0.1', done));
    const port = (blocker.address() as { port: number }).port;
    try {
      const { code, stderr } = await runCli([String(port), '-b', '127.0.0.1']);
      expect(code).toBe(1);
      expect(stderr).toContain('EADDRINUSE');
    } finally {
      blocker.close();
    }
  });
});
