import { lstat, stat, symlink, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { EventLoopMixIn, InvalidArgumentError, StreamRequestHandler } from '@socketserver/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { UnixStreamServer } from '../src/index.js';
import { makeTempDir, runPython, streamExamine, TEST_STR, tryConnect } from './helpers.js';

/** CPython's MyHandler: echo one line. */
class EchoLine extends StreamRequestHandler<string> {
  override async handle(): Promise<void> {
    const line = await this.rfile.readline();
    await this.wfile.write(line);
  }
}

/** CPython's MyServer re-raises in handle_error; here errors are collected and asserted empty. */
class MyServer extends UnixStreamServer {
  errors: unknown[] = [];
  override handleError(_request: unknown, _address: string | null, error: unknown): void {
    this.errors.push(error);
  }
}

class MyEventLoopServer extends EventLoopMixIn(MyServer) {}

let dir: string;
let cleanup: () => Promise<void>;
let counter = 0;
const open: Array<{ serverClose(): Promise<void>; shutdown(): Promise<void> }> = [];
const foreign: Server[] = [];

/** A fresh socket path in the test directory (Python's `pickaddr`). */
const pickaddr = () => join(dir, `unix_socket.${++counter}`);

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir());
});
afterEach(async () => {
  for (const server of open.splice(0)) {
    await server.shutdown();
    await server.serverClose();
  }
  for (const server of foreign.splice(0)) await new Promise((r) => server.close(r));
});
afterAll(() => cleanup());

async function make<T extends typeof MyServer>(
  Server: T,
  path: string,
  settings: Record<string, unknown> = {},
): Promise<InstanceType<T>> {
  const server = (await Server.create(path, EchoLine, settings as never)) as InstanceType<T>;
  open.push(server);
  return server;
}

/** CPython's run_server: serve, three clients, shutdown, server_close, fileno() == -1. */
async function runServer(Server: typeof MyServer, examine: (path: string) => Promise<void>) {
  const server = await make(Server, pickaddr());
  const serving = server.serveForever({ pollInterval: 10 });
  for (let i = 0; i < 3; i++) await examine(server.serverAddress);
  await server.shutdown();
  await serving;
  await server.serverClose();
  expect(server.fileno()).toBe(-1);
  expect(server.errors).toEqual([]);
}

const nodeExamine = async (path: string) => {
  expect(await streamExamine(path)).toBe(TEST_STR);
};

describe('UnixStreamServer, ported from CPython test_socketserver', () => {
  it('test_UnixStreamServer: three clients', async () => {
    await runServer(MyServer, nodeExamine);
  });

  it('test_UnixStreamServer with EventLoopMixIn: three clients', async () => {
    await runServer(MyEventLoopServer as unknown as typeof MyServer, nodeExamine);
  });

  it('the event-loop twin serves three clients at once', async () => {
    const server = await make(MyEventLoopServer as unknown as typeof MyServer, pickaddr());
    const serving = server.serveForever({ pollInterval: 10 });
    const replies = await Promise.all(
      [0, 1, 2].map((i) => streamExamine(server.serverAddress, `client ${i}\n`)),
    );
    expect(replies).toEqual(['client 0\n', 'client 1\n', 'client 2\n']);
    await server.shutdown();
    await serving;
  });
});

describe('UnixStreamServer with a Python socket client', () => {
  const script = `
import socket, sys
for i in range(3):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(sys.argv[1])
        s.sendall(b"hello world %d\\n" % i)
        buf = b""
        while not buf.endswith(b"\\n"):
            data = s.recv(100)
            if not data:
                break
            buf += data
        sys.stdout.write(buf.decode())
`;

  for (const [name, Server] of [
    ['plain', MyServer],
    ['event loop', MyEventLoopServer as unknown as typeof MyServer],
  ] as const) {
    it(`${name}: AF_UNIX SOCK_STREAM client, three connections`, async () => {
      const server = await make(Server, pickaddr());
      const serving = server.serveForever({ pollInterval: 10 });
      const out = await runPython(script, [server.serverAddress]);
      expect(out).toBe('hello world 0\nhello world 1\nhello world 2\n');
      await server.shutdown();
      await serving;
      expect(server.errors).toEqual([]);
    });
  }

  it('abstract namespace, reached from Python by its abstract name', async () => {
    const name = `\0socketserver-test-${process.pid}-${++counter}`;
    const server = await make(MyServer, name);
    expect(server.serverAddress).toBe(name);
    const serving = server.serveForever({ pollInterval: 10 });
    const out = await runPython(
      `
import socket, sys
name = b"\\0" + sys.argv[1].encode()
# Node 22 and later bind the exact name (as Python does); Node 20 pads it with NULs to 108 bytes.
for kind, address in (("exact", name), ("padded", name.ljust(108, b"\\0"))):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        try:
            s.connect(address)
        except ConnectionRefusedError:
            continue
        s.sendall(b"abstract\\n")
        sys.stdout.write(kind + " " + s.recv(100).decode())
        break
`,
      [name.slice(1)],
    );
    const major = Number(process.versions.node.split('.')[0]);
    expect(out).toBe(`${major >= 22 ? 'exact' : 'padded'} abstract\n`);
    expect(await streamExamine(name)).toBe(TEST_STR);
    await server.shutdown();
    await serving;
    await server.serverClose();
    // No file, and the name is free again once closed.
    const again = await make(MyServer, name);
    expect(again.serverAddress).toBe(name);
  });
});

describe('UnixStreamServer socket file', () => {
  it('EADDRINUSE on a path where a server listens; the live socket keeps working', async () => {
    const path = pickaddr();
    const first = await make(MyServer, path);
    const serving = first.serveForever({ pollInterval: 10 });
    await expect(MyServer.create(path, EchoLine)).rejects.toMatchObject({ code: 'EADDRINUSE' });
    await expect(
      MyServer.create(path, EchoLine, { removeStaleSocket: true }),
    ).rejects.toMatchObject({ code: 'EADDRINUSE' });
    expect(await streamExamine(path)).toBe(TEST_STR);
    await first.shutdown();
    await serving;
  });

  it('a stale socket file is EADDRINUSE by default, removed only with removeStaleSocket', async () => {
    const path = pickaddr();
    await makeStaleSocket(path);
    expect((await lstat(path)).isSocket()).toBe(true);
    await expect(MyServer.create(path, EchoLine)).rejects.toMatchObject({ code: 'EADDRINUSE' });
    expect((await lstat(path)).isSocket()).toBe(true);
    const server = await make(MyServer, path, { removeStaleSocket: true });
    const serving = server.serveForever({ pollInterval: 10 });
    expect(await streamExamine(path)).toBe(TEST_STR);
    await server.shutdown();
    await serving;
  });

  it('never removes a regular file, a directory or a symlink, even with removeStaleSocket', async () => {
    const file = pickaddr();
    await writeFile(file, 'precious');
    await expect(
      MyServer.create(file, EchoLine, { removeStaleSocket: true }),
    ).rejects.toMatchObject({ code: 'EADDRINUSE' });
    expect((await lstat(file)).isFile()).toBe(true);

    const stale = pickaddr();
    await makeStaleSocket(stale);
    const link = pickaddr();
    await symlink(stale, link);
    await expect(
      MyServer.create(link, EchoLine, { removeStaleSocket: true }),
    ).rejects.toMatchObject({ code: 'EADDRINUSE' });
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
  });

  it('serverClose removes the socket file; no private directory is left behind', async () => {
    const { dir: own, cleanup: done } = await makeTempDir();
    try {
      const path = join(own, 's');
      const server = await MyServer.create(path, EchoLine);
      expect((await lstat(path)).isSocket()).toBe(true);
      await server.serverClose();
      await expect(lstat(path)).rejects.toMatchObject({ code: 'ENOENT' });
      await server.serverClose();
      const { readdir } = await import('node:fs/promises');
      expect(await readdir(own)).toEqual([]);
    } finally {
      await done();
    }
  });

  it('serverClose removes only the file it created, not one put at the path since', async () => {
    const path = pickaddr();
    const server = await make(MyServer, path);
    const { unlink } = await import('node:fs/promises');
    await unlink(path);
    const other = createServer();
    foreign.push(other);
    await new Promise<void>((resolve) => other.listen(path, resolve));
    const before = await lstat(path);
    await server.serverClose();
    const after = await lstat(path);
    expect(after.ino).toBe(before.ino);
    expect(await tryConnect(path)).toBeNull();
  });

  for (const mode of [0o600, 0o660, 0o777]) {
    it(`mode ${mode.toString(8)} gives the socket file exactly those permissions`, async () => {
      const path = pickaddr();
      const server = await make(MyServer, path, { mode });
      expect((await stat(path)).mode & 0o777).toBe(mode);
      const serving = server.serveForever({ pollInterval: 10 });
      expect(await streamExamine(path)).toBe(TEST_STR);
      await server.shutdown();
      await serving;
    });
  }

  it('rejects an invalid mode, and a mode for an abstract name', async () => {
    await expect(MyServer.create(pickaddr(), EchoLine, { mode: 0o1777 })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    await expect(
      MyServer.create(`\0socketserver-mode-${process.pid}`, EchoLine, { mode: 0o600 }),
    ).rejects.toMatchObject({ code: 'ERR_SOCKETSERVER_INVALID_ARGUMENT' });
  });

  it('a path longer than 107 bytes is a clear error naming the 108-byte limit', () => {
    const long = join(dir, 'x'.repeat(120));
    expect(() => new MyServer(long, EchoLine)).toThrow(InvalidArgumentError);
    expect(() => new MyServer(long, EchoLine)).toThrow(/108-byte sun_path/);
    const exact = `/tmp/${'y'.repeat(102)}`;
    expect(Buffer.byteLength(exact)).toBe(107);
    expect(() => new MyServer(exact, EchoLine)).not.toThrow();
    expect(() => new MyServer(`${exact}z`, EchoLine)).toThrow(/107 bytes/);
    expect(() => new MyServer('', EchoLine)).toThrow(InvalidArgumentError);
    expect(() => new MyServer('a\0b', EchoLine)).toThrow(InvalidArgumentError);
  });

  it('a path whose directory leaves no room for the private directory is bound in place', async () => {
    const { mkdir } = await import('node:fs/promises');
    const deep = join(dir, 'd'.repeat(100 - Buffer.byteLength(dir) - 1));
    await mkdir(deep);
    const path = join(deep, 'sock');
    expect(Buffer.byteLength(path)).toBe(105);
    const server = await make(MyServer, path);
    const serving = server.serveForever({ pollInterval: 10 });
    expect(await streamExamine(path)).toBe(TEST_STR);
    await server.shutdown();
    await serving;
    await expect(MyServer.create(path, EchoLine)).rejects.toMatchObject({ code: 'EADDRINUSE' });
    await server.serverClose();
    await expect(lstat(path)).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(MyServer.create(path, EchoLine, { mode: 0o600 })).rejects.toThrow(
      /private directory/,
    );
  });

  it('a failing handler goes to handleError and serving continues', async () => {
    class Failing extends StreamRequestHandler<string> {
      override async handle(): Promise<void> {
        const line = await this.rfile.readline();
        if (line.toString() === 'boom\n') throw new Error('handler failed');
        await this.wfile.write(line);
      }
    }
    const server = (await MyServer.create(pickaddr(), Failing)) as MyServer;
    open.push(server);
    const serving = server.serveForever({ pollInterval: 10 });
    expect(await streamExamine(server.serverAddress, 'boom\n')).toBe('');
    expect(await streamExamine(server.serverAddress)).toBe(TEST_STR);
    expect(server.errors).toHaveLength(1);
    await server.shutdown();
    await serving;
  });
});

/** Leaves a socket file nobody listens on (a server that died without cleaning up). */
async function makeStaleSocket(path: string): Promise<void> {
  const { link, unlink, rmdir, mkdtemp } = await import('node:fs/promises');
  // Bind in a scratch directory and hard-link the socket to `path`: Node
  // unlinks only the scratch name at close, so `path` stays, refusing connections.
  const scratch = await mkdtemp(join(dir, 'stale-'));
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(join(scratch, 's'), resolve));
  await link(join(scratch, 's'), path);
  await new Promise((resolve) => server.close(resolve));
  await unlink(join(scratch, 's')).catch(() => {});
  await rmdir(scratch);
  const refused = await tryConnect(path);
  expect(refused?.code).toBe('ECONNREFUSED');
  void connect;
}
