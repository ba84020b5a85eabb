/**
 * The command line, in the vocabulary of apps/CLI.md: --help, --version, the
 * port (positional, -p, --port), -b/--bind (IPv6), --unix (stream and
 * datagram), usage errors (the usage lines, then `socketserver-echo: error:
 * MESSAGE`, exit 2), failures (one line, exit 1), signals, and the built
 * layout the threading and forking modes rely on (the handlers in a module
 * of their own that starts nothing when imported).
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

/** The usage lines: the help up to its first blank line. */
async function synopsis(): Promise<string> {
  const help = run(['--help']);
  await help.exited;
  return help.stdout().slice(0, help.stdout().indexOf('\n\n') + 1);
}

const VERSION = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

describe.concurrent('socketserver-echo command line', () => {
  test('--help lists every option and exits 0', async () => {
    for (const flag of ['--help', '-h']) {
      const started = run([flag]);
      expect(await started.exited).toEqual({ code: 0, signal: null });
      const help = started.stdout();
      for (const word of [
        '--transport',
        'tcp (default), udp, unix (Unix stream) or unix-dgram',
        '--mode',
        'sync',
        'eventloop',
        'threading',
        'forking',
        '[port]',
        '-p, --port PORT',
        '-b, --bind ADDR',
        '127.0.0.1',
        '7007',
        '--unix PATH',
        '--quiet',
        '--version',
        '--tls-cert',
        '--proxy-protocol',
        'echo server (MODE) listening on URL',
        'SIGTERM',
        'exit status',
      ]) {
        expect(help).toContain(word);
      }
      expect(help).toMatch(/^usage: socketserver-echo \[port\] /);
      for (const gone of ['--host', '--path', 'Usage:']) expect(help).not.toContain(gone);
      expect(started.stderr()).toBe('');
    }
  });

  test('--version prints the name and the version of package.json, exit 0', async () => {
    const started = run(['--version']);
    expect(await started.exited).toEqual({ code: 0, signal: null });
    expect(started.stdout()).toBe(`socketserver-echo ${VERSION}\n`);
    expect(started.stderr()).toBe('');
  });

  test("an unknown option: the usage lines, then 'socketserver-echo: error: MESSAGE', exit 2", async () => {
    const usage = await synopsis();
    expect(usage).toMatch(/^usage: socketserver-echo \[port\] [^\n]*\n(?: {25}\S[^\n]*\n)+$/);
    const started = run(['--bogus']);
    expect(await started.exited).toEqual({ code: 2, signal: null });
    expect(started.stdout()).toBe('');
    expect(started.stderr()).toBe(
      `${usage}socketserver-echo: error: Unknown option '--bogus'. To specify a positional ` +
        `argument starting with a '-', place it at the end of the command after '--', as in '-- "--bogus"\n`,
    );
  });

  test('the port: positional, -p and --port; 0 picks a free one', async () => {
    const servers = await Promise.all([
      startEcho(['0']),
      startEcho(['-p', '0']),
      startEcho(['--port', '0']),
      startEcho(['--port=0', '--transport', 'udp']),
      startEcho(['0', '--transport', 'udp']),
    ]);
    const tcp = /^echo server \(eventloop\) listening on tcp:\/\/127\.0\.0\.1:(\d+)$/;
    const udp = /^echo server \(eventloop\) listening on udp:\/\/127\.0\.0\.1:(\d+)$/;
    for (const [i, server] of servers.entries()) {
      expect(server.readyLine).toMatch(i < 3 ? tcp : udp);
      expect((server.target as { port: number }).port).toBeGreaterThan(0);
    }
    const client = await StreamClient.connect(servers[0]!.target);
    expect((await client.end('positional\n')).toString()).toBe('positional\n');
    for (const server of servers) server.proc.kill('SIGTERM');
    for (const server of servers) expect(await server.exited).toEqual({ code: 0, signal: null });
  });

  test('the port given twice (positional and -p): the usage lines and the error, exit 2', async () => {
    const usage = await synopsis();
    for (const args of [
      ['8080', '-p', '8081'],
      ['--port', '8081', '8080'],
    ]) {
      const started = run(args);
      expect(await started.exited).toEqual({ code: 2, signal: null });
      expect(started.stdout()).toBe('');
      expect(started.stderr()).toBe(
        `${usage}socketserver-echo: error: give the port once: as an argument or with -p/--port\n`,
      );
    }
  });

  const bad: Array<[string[], string]> = [
    [['--transport', 'sctp'], 'invalid --transport sctp (choose from tcp, udp, unix, unix-dgram)'],
    [['--mode', 'async'], 'invalid --mode async (choose from sync, eventloop, threading, forking)'],
    [['--port', '65536'], 'invalid port: 65536'],
    [['-p', '12ab'], 'invalid port: 12ab'],
    [['-p', '-1'], "Option '-p' argument is ambiguous."],
    [['positional'], 'invalid port: positional'],
    [['1', '2'], 'unrecognized arguments: 2'],
    [['--bind', ''], 'invalid --bind: an empty address'],
    [['--host', '::1'], "Unknown option '--host'"],
    [['--path', '/tmp/x'], "Unknown option '--path'"],
    [['--port'], "Option '-p, --port <value>' argument missing"],
    [
      ['--transport', 'unix', '--port', '7'],
      '--transport unix cannot be combined with a port or --bind',
    ],
    [['--unix', '/tmp/x', '7'], '--unix cannot be combined with a port or --bind'],
    [['--unix', '/tmp/x', '-b', '::1'], '--unix cannot be combined with a port or --bind'],
    [['--transport', 'udp', '--unix', '/tmp/x'], '--unix does not apply to --transport udp'],
  ];
  const tooLong = `/tmp/${'x'.repeat(120)}.sock`;
  for (const transport of ['unix', 'unix-dgram']) {
    test(`a socket path longer than the kernel allows: ${transport}, one line, exit 1`, async () => {
      const started = run(['--transport', transport, '--unix', tooLong]);
      expect(await started.exited).toEqual({ code: 1, signal: null });
      expect(started.stdout()).toBe('');
      expect(started.stderr()).toMatch(
        /^socketserver-echo: [^\n]*108[^\n]*\(ERR_SOCKETSERVER_INVALID_ARGUMENT\)\n$/,
      );
    });
  }
  for (const [args, message] of bad) {
    test(`bad arguments ${JSON.stringify(args)}: the usage lines and the error, exit 2`, async () => {
      const usage = await synopsis();
      const started = run(args);
      expect(await started.exited).toEqual({ code: 2, signal: null });
      expect(started.stdout()).toBe('');
      const stderr = started.stderr();
      expect(stderr.startsWith(usage)).toBe(true);
      const error = stderr.slice(usage.length);
      expect(error).toMatch(/^socketserver-echo: error: [^\n]+\n$/);
      expect(error).toContain(message);
    });
  }

  test('-b ::1 (and --bind ::1): tcp and udp listen on IPv6 with a bracketed URL', async () => {
    const [tcp, udp] = await Promise.all([
      startEcho(['-b', '::1', '0']),
      startEcho(['--transport', 'udp', '--bind', '::1', '-p', '0']),
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

  test('--unix PATH alone: a Unix stream socket; with --transport unix-dgram: a datagram one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'socketserver-echo-unix-'));
    try {
      const streamPath = join(dir, 'stream.sock');
      const dgramPath = join(dir, 'dgram.sock');
      const [stream, dgram] = await Promise.all([
        startEcho(['--unix', streamPath]),
        startEcho(['--transport', 'unix-dgram', '--unix', dgramPath]),
      ]);
      expect(stream.readyLine).toBe(`echo server (eventloop) listening on unix://${streamPath}`);
      expect(dgram.readyLine).toBe(
        `echo server (eventloop) listening on unix-dgram://${dgramPath}`,
      );
      const client = await StreamClient.connect(stream.target);
      expect((await client.end('over a unix stream\n')).toString()).toBe('over a unix stream\n');
      expect(await dgramClient(['unix', dgramPath, join(dir, 'client.sock'), '1000', '3'])).toBe(
        'ok 2\n',
      );
      stream.proc.kill('SIGTERM');
      dgram.proc.kill('SIGTERM');
      expect(await stream.exited).toEqual({ code: 0, signal: null });
      expect(await dgram.exited).toEqual({ code: 0, signal: null });
      expect(existsSync(streamPath) || existsSync(dgramPath)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const transport of ['unix', 'unix-dgram']) {
    test(`${transport}: a live socket file is refused (exit 1), a stale one is replaced`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'socketserver-echo-stale-'));
      try {
        const path = join(dir, 'echo.sock');
        const args = ['--transport', transport, '--unix', path];
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

  test('a mode or transport whose package is missing: one line, exit 1; the others still work', async () => {
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
        [['--unix', join(app, 's')], /transport-unix is not available/],
      ];
      for (const [args, message] of attempts) {
        const started = runFile(cli, args);
        expect(await started.exited).toEqual({ code: 1, signal: null });
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
