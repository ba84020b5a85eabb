/**
 * The command line: --help, bad arguments (one line, exit 2), IPv6 hosts,
 * errors while binding (one line, exit 1), SIGINT, and the built layout the
 * threading and forking modes rely on (the handlers in a module of their
 * own that starts nothing when imported).
 */
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import {
  dgramClient,
  killAll,
  run,
  runFile,
  StreamClient,
  startEcho,
  startEchoFile,
} from './helpers.js';

afterAll(killAll);

describe.concurrent('socketserver-echo command line', () => {
  test('--help lists every option and exits 0', async () => {
    for (const flag of ['--help', '-h']) {
      const started = run([flag]);
      expect(await started.exited).toEqual({ code: 0, signal: null });
      const help = started.stdout();
      for (const word of [
        '--transport',
        'tcp | udp | unix | unix-dgram',
        '--mode',
        'sync',
        'eventloop',
        'threading',
        'forking',
        '--host',
        '127.0.0.1',
        '--port',
        '7007',
        '--path',
        'echo server (MODE) listening on URL',
        'SIGTERM',
        'Exit codes',
      ]) {
        expect(help).toContain(word);
      }
      expect(started.stderr()).toBe('');
    }
  });

  const bad: Array<[string[], RegExp]> = [
    [['--transport', 'sctp'], /--transport must be one of tcp, udp, unix, unix-dgram/],
    [['--mode', 'async'], /--mode must be one of sync, eventloop, threading, forking/],
    [['--port', '65536'], /--port must be an integer from 0 to 65535/],
    [['--port', '12ab'], /--port must be an integer/],
    [['--port', '-1'], /--port/],
    [['--host', ''], /--host must not be empty/],
    [['--bogus'], /Unknown option '--bogus'/],
    [['positional'], /positional/i],
    [['--port'], /--port/],
    [['--transport', 'unix', '--port', '7'], /--port does not apply to --transport unix/],
    [['--transport', 'udp', '--path', '/tmp/x'], /--path does not apply to --transport udp/],
  ];
  const tooLong = `/tmp/${'x'.repeat(120)}.sock`;
  for (const transport of ['unix', 'unix-dgram']) {
    test(`a socket path longer than the kernel allows: ${transport}, one line, exit 2`, async () => {
      const started = run(['--transport', transport, '--path', tooLong]);
      expect(await started.exited).toEqual({ code: 2, signal: null });
      expect(started.stdout()).toBe('');
      expect(started.stderr()).toMatch(
        /^socketserver-echo: [^\n]*108[^\n]*\(ERR_SOCKETSERVER_INVALID_ARGUMENT\)\n$/,
      );
    });
  }
  for (const [args, message] of bad) {
    test(`bad arguments ${JSON.stringify(args)}: one line, exit 2`, async () => {
      const started = run(args);
      expect(await started.exited).toEqual({ code: 2, signal: null });
      expect(started.stdout()).toBe('');
      const stderr = started.stderr();
      expect(stderr).toMatch(message);
      expect(stderr).toMatch(/^socketserver-echo: [^\n]+ \(see --help\)\n$/);
    });
  }

  test('--host ::1: tcp and udp listen on IPv6 with a bracketed URL', async () => {
    const [tcp, udp] = await Promise.all([
      startEcho(['--host', '::1', '--port', '0']),
      startEcho(['--transport', 'udp', '--host', '::1', '--port', '0']),
    ]);
    expect(tcp.readyLine).toMatch(/^echo server \(eventloop\) listening on tcp:\/\/\[::1\]:\d+$/);
    expect(udp.readyLine).toMatch(/^echo server \(eventloop\) listening on udp:\/\/\[::1\]:\d+$/);
    const client = await StreamClient.connect(tcp.target);
    expect((await client.end('over IPv6\nand a tail')).toString()).toBe('over IPv6\nand a tail');
    // The largest UDP payload over IPv6 comes back whole.
    const udpTarget = udp.target as { host: string; port: number };
    expect(await dgramClient(['inet', '::1', String(udpTarget.port), '65527', '3'])).toBe('ok 2\n');
    tcp.proc.kill('SIGINT');
    udp.proc.kill('SIGINT');
    expect(await tcp.exited).toEqual({ code: 0, signal: null });
    expect(await udp.exited).toEqual({ code: 0, signal: null });
    expect(tcp.stderr()).toMatch(/SIGINT received/);
  });

  for (const mode of ['forking', 'threading']) {
    test(`${mode}: Ctrl-C (SIGINT to the whole process group) lets a request in flight finish`, async () => {
      const server = await startEcho(['--mode', mode, '--port', '0'], { detached: true });
      const client = await StreamClient.connect(server.target);
      await client.write('before\n');
      await client.waitForLength(7); // handled in a child (or a worker) now
      process.kill(-server.proc.pid!, 'SIGINT'); // as a terminal does: every process in the group
      await server.waitForStderr(/SIGINT received/);
      await client.write('after\n');
      await client.waitForLength(13);
      expect((await client.end('tail')).toString()).toBe('before\nafter\ntail');
      expect(await server.exited).toEqual({ code: 0, signal: null });
      expect(server.stderr()).not.toMatch(/Exception occurred/);
    });
  }

  test('a second signal while a request holds the server exits at once', async () => {
    const server = await startEcho(['--mode', 'sync', '--port', '0']);
    const client = await StreamClient.connect(server.target);
    await client.write('held\n');
    await client.waitForLength(5);
    server.proc.kill('SIGTERM');
    await server.waitForStderr(/SIGTERM received/);
    server.proc.kill('SIGINT');
    expect(await server.exited).toEqual({ code: 130, signal: null });
    expect(server.stderr()).toMatch(/second SIGINT, exiting now/);
    client.socket.destroy();
  });

  for (const transport of ['unix', 'unix-dgram']) {
    test(`${transport}: a live socket file is refused (exit 1), a stale one is replaced`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'socketserver-echo-stale-'));
      try {
        const path = join(dir, 'echo.sock');
        const args = ['--transport', transport, '--path', path];
        const first = await startEcho(args);
        const second = run(args);
        expect(await second.exited).toEqual({ code: 1, signal: null });
        expect(second.stderr()).toMatch(/^socketserver-echo: [^\n]*EADDRINUSE[^\n]*\n$/);
        expect(existsSync(path)).toBe(true); // the live server's file is left alone
        first.proc.kill('SIGKILL'); // no cleanup: the file stays behind, stale
        await first.exited;
        expect(existsSync(path)).toBe(true);
        const third = await startEcho(args);
        expect(third.url).toBe(`${transport}://${path}`);
        third.proc.kill('SIGTERM');
        expect(await third.exited).toEqual({ code: 0, signal: null });
        expect(existsSync(path)).toBe(false);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  test('a port in use: one line naming the error, exit 1', async () => {
    const busy: Server = await new Promise((resolve) => {
      const server = createServer();
      server.listen(0, '127.0.0.1', () => resolve(server));
    });
    try {
      const { port } = busy.address() as { port: number };
      const started = run(['--port', String(port)]);
      expect(await started.exited).toEqual({ code: 1, signal: null });
      expect(started.stdout()).toBe('');
      expect(started.stderr()).toMatch(/^socketserver-echo: [^\n]*EADDRINUSE[^\n]*\n$/);
    } finally {
      busy.close();
    }
  });

  test('a mode or transport whose package is missing: one line, exit 2; the others still work', async () => {
    // The built CLI beside only core and transport-inet, as a user who installed just those.
    const app = mkdtempSync(join(tmpdir(), 'socketserver-echo-partial-'));
    try {
      mkdirSync(join(app, 'dist'));
      mkdirSync(join(app, 'node_modules', '@socketserver'), { recursive: true });
      for (const file of ['cli.js', 'handlers.js']) {
        copyFileSync(
          fileURLToPath(new URL(`../dist/${file}`, import.meta.url)),
          join(app, 'dist', file),
        );
      }
      writeFileSync(join(app, 'package.json'), '{ "type": "module" }\n');
      for (const pkg of ['core', 'transport-inet']) {
        symlinkSync(
          fileURLToPath(new URL(`../node_modules/@socketserver/${pkg}`, import.meta.url)),
          join(app, 'node_modules', '@socketserver', pkg),
        );
      }
      const cli = join(app, 'dist', 'cli.js');
      const attempts: Array<[string[], RegExp]> = [
        [['--mode', 'threading', '--port', '0'], /@socketserver\/mixin-threading is not available/],
        [['--mode', 'forking', '--port', '0'], /@socketserver\/mixin-forking is not available/],
        [['--transport', 'unix', '--path', join(app, 's')], /transport-unix is not available/],
      ];
      for (const [args, message] of attempts) {
        const started = runFile(cli, args);
        expect(await started.exited).toEqual({ code: 2, signal: null });
        expect(started.stderr()).toMatch(message);
        expect(started.stderr()).toMatch(/^[^\n]*ERR_SOCKETSERVER_ECHO_NOT_AVAILABLE\)\n$/);
        expect(started.stdout()).toBe('');
      }
      // TCP on the event loop needs nothing more.
      const server = await startEchoFile(cli, ['--port', '0']);
      const client = await StreamClient.connect(server.target);
      expect((await client.end('still here')).toString()).toBe('still here');
      server.proc.kill('SIGTERM');
      expect(await server.exited).toEqual({ code: 0, signal: null });
    } finally {
      rmSync(app, { recursive: true, force: true });
    }
  });

  test('the handlers are a module of their own, imported by the CLI, that starts nothing', () => {
    const cli = readFileSync(fileURLToPath(new URL('../dist/cli.js', import.meta.url)), 'utf8');
    expect(cli.startsWith('#!/usr/bin/env node\n')).toBe(true);
    expect(cli).toMatch(/from "\.\/handlers\.js"/);
    const handlersUrl = new URL('../dist/handlers.js', import.meta.url).href;
    // Importing the module in a fresh process prints nothing, listens on
    // nothing, and lets the process exit at once; it exports both classes
    // with their own URL, as a worker or child needs.
    const probe = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const m = await import(${JSON.stringify(handlersUrl)});
         const ok = m.EchoStreamHandler.moduleUrl === ${JSON.stringify(handlersUrl)} &&
           m.EchoDatagramHandler.moduleUrl === ${JSON.stringify(handlersUrl)};
         process.stderr.write(ok ? 'exports ok' : 'bad moduleUrl');`,
      ],
      { encoding: 'utf8', timeout: 20_000 },
    );
    expect(probe.status).toBe(0);
    expect(probe.stdout).toBe('');
    expect(probe.stderr).toBe('exports ok');
  });
});
