/**
 * Socket activation: LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES read once and
 * removed from the environment, the kind and path of each inherited socket
 * read from /proc, and takeListenFd choosing by kind and name. Each case runs
 * a fixture process that inherits real sockets made here as descriptors 3
 * and up (the way systemd passes them).
 */
import { spawn } from 'node:child_process';
import { createSocket, type Socket as DgramSocket } from 'node:dgram';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { activate } from '@socketserver/test-deploy';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { handleFd } from '../src/node-internals.js';
import { assertSocketKind } from '../src/socket-activation.js';
import { inspectSocket } from '../src/socket-inspect.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/listen-fds.mjs', import.meta.url));

let dir: string;
let tcp: Server;
let tcp6: Server;
let unix: Server;
let udp: DgramSocket;
const fd = { tcp: -1, tcp6: -1, unix: -1, udp: -1 };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sscore-'));
  tcp = createServer();
  tcp6 = createServer();
  unix = createServer();
  await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => tcp6.listen(0, '::1', resolve));
  await new Promise<void>((resolve) => unix.listen(join(dir, 'my socket'), resolve));
  udp = createSocket('udp4');
  await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
  Object.assign(fd, {
    tcp: handleFd(tcp),
    tcp6: handleFd(tcp6),
    unix: handleFd(unix),
    udp: handleFd(udp),
  });
});

afterAll(async () => {
  for (const server of [tcp, tcp6, unix]) await new Promise((resolve) => server.close(resolve));
  udp.close();
  rmSync(dir, { recursive: true, force: true });
});

async function run(
  sockets: number[],
  {
    names,
    env,
    takes = [],
  }: { names?: string[]; env?: Record<string, string>; takes?: string[] } = {},
): Promise<any> {
  const child = activate({
    command: process.execPath,
    args: [FIXTURE, ...takes],
    sockets,
    names,
    env,
  });
  const [line] = await child.waitForStdout(/^.*\n/);
  expect(await child.exited).toEqual({ code: 0, signal: null });
  return JSON.parse(line);
}

describe('listenFds', () => {
  test('no variables: no sockets', async () => {
    const child = spawn(process.execPath, [FIXTURE], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      out += text;
    });
    await new Promise((resolve) => child.once('close', resolve));
    expect(JSON.parse(out)).toEqual({ first: [], second: [], env: [], takes: [] });
  });

  test('named sockets of each kind, read once, the variables removed', async () => {
    const result = await run([fd.tcp, fd.udp, fd.unix, fd.tcp6], {
      names: ['web', 'stats', 'local', 'web6'],
    });
    expect(result.first).toEqual([
      { fd: 3, name: 'web', kind: 'tcp', path: '', taken: false },
      { fd: 4, name: 'stats', kind: 'udp', path: '', taken: false },
      { fd: 5, name: 'local', kind: 'unix', path: join(dir, 'my socket'), taken: false },
      { fd: 6, name: 'web6', kind: 'tcp', path: '', taken: false },
    ]);
    expect(result.second).toEqual(result.first);
    expect(result.env).toEqual([]);
  });

  test('without LISTEN_FDNAMES every socket is named "unknown"', async () => {
    const result = await run([fd.tcp]);
    expect(result.first).toEqual([{ fd: 3, name: 'unknown', kind: 'tcp', path: '', taken: false }]);
  });

  test('LISTEN_PID of another process: none are ours, the variables are removed all the same', async () => {
    const other = spawn(process.execPath, [FIXTURE], {
      stdio: ['ignore', 'pipe', 'inherit', fd.tcp],
      env: { ...process.env, LISTEN_FDS: '1', LISTEN_PID: '1' },
    });
    let out = '';
    other.stdout!.setEncoding('utf8').on('data', (text: string) => {
      out += text;
    });
    await new Promise((resolve) => other.once('close', resolve));
    expect(JSON.parse(out)).toMatchObject({ first: [], env: [] });
  });

  test.each([[{ LISTEN_FDNAMES: 'a:b' }, /names 2 sockets but LISTEN_FDS says 1/]])(
    'malformed variables: %j',
    async (env, message) => {
      const result = await run([fd.tcp], { env });
      expect(result.first).toMatchObject({
        error: 'ERR_SOCKETSERVER_SOCKET_ACTIVATION',
        message: expect.stringMatching(message),
      });
    },
  );

  test('a LISTEN_FDS that is not a count', async () => {
    const child = spawn(
      '/bin/sh',
      ['-c', 'LISTEN_PID=$$ LISTEN_FDS=two exec "$0" "$@"', process.execPath, FIXTURE],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      out += text;
    });
    await new Promise((resolve) => child.once('close', resolve));
    expect(JSON.parse(out).first).toMatchObject({
      error: 'ERR_SOCKETSERVER_SOCKET_ACTIVATION',
      message: expect.stringContaining('"two"'),
    });
  });
});

describe('takeListenFd', () => {
  test('by kind, then by name; a socket is taken once', async () => {
    const result = await run([fd.tcp, fd.udp, fd.unix], {
      names: ['web', 'stats', 'local'],
      takes: ['udp', 'udp', 'tcp|unix:local', 'tcp', 'unix-dgram'],
    });
    expect(result.takes).toEqual([4, null, 5, 3, null]);
  });

  test('a name of the wrong kind, and two of a kind without a name, are errors', async () => {
    const result = await run([fd.tcp, fd.tcp6], {
      names: ['a', 'b'],
      takes: ['udp:a', 'tcp', 'tcp:b'],
    });
    expect(result.takes[0]).toMatchObject({
      error: 'ERR_SOCKETSERVER_SOCKET_ACTIVATION',
      message: expect.stringContaining('is tcp, not udp'),
    });
    expect(result.takes[1]).toMatchObject({
      message: expect.stringContaining('say which by name'),
    });
    expect(result.takes[2]).toBe(4);
  });
});

describe('inspectSocket and assertSocketKind', () => {
  test('kinds, IPv6 and listening, from /proc', () => {
    expect(inspectSocket(fd.tcp)).toEqual({ kind: 'tcp', ipv6: false, path: '', listening: true });
    expect(inspectSocket(fd.tcp6)).toEqual({ kind: 'tcp', ipv6: true, path: '', listening: true });
    expect(inspectSocket(fd.udp)).toEqual({ kind: 'udp', ipv6: false, path: '', listening: false });
    expect(inspectSocket(fd.unix)).toEqual({
      kind: 'unix',
      ipv6: false,
      path: join(dir, 'my socket'),
      listening: true,
    });
    const file = openSync(FIXTURE, 'r');
    try {
      expect(inspectSocket(file).kind).toBe('unknown');
    } finally {
      closeSync(file);
    }
  });

  test('a descriptor of another kind, or no socket at all, is refused', () => {
    expect(() => assertSocketKind(fd.udp, 'tcp', 'TCPServer')).toThrow(
      /cannot serve fd \d+: it is a udp socket, not tcp/,
    );
    const file = openSync(FIXTURE, 'r');
    try {
      expect(() => assertSocketKind(file, 'tcp', 'TCPServer')).toThrow(/not an open socket/);
    } finally {
      closeSync(file);
    }
    expect(() => assertSocketKind(-1, 'tcp', 'TCPServer')).toThrow(/must be a file descriptor/);
    expect(() => assertSocketKind(fd.tcp, 'tcp', 'TCPServer')).not.toThrow();
  });
});
