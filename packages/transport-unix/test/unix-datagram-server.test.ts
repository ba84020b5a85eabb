import { lstat, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DatagramRequestHandler, EventLoopMixIn, InvalidArgumentError } from '@socketserver/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { UnixDatagramServer, UnnamedPeerError } from '../src/index.js';
import { DgramClient, makeTempDir, runPython, TEST_STR, tryConnect } from './helpers.js';

/** CPython's MyHandler: echo one line. */
class EchoLine extends DatagramRequestHandler<string> {
  override async handle(): Promise<void> {
    const line = await this.rfile.readline();
    await this.wfile.write(line);
  }
}

/** Collects errors instead of printing them (CPython's MyServer re-raises). */
class MyServer extends UnixDatagramServer {
  errors: unknown[] = [];
  override handleError(_request: unknown, _address: string | null, error: unknown): void {
    this.errors.push(error);
  }
}

class MyEventLoopServer extends EventLoopMixIn(MyServer) {}

let dir: string;
let cleanup: () => Promise<void>;
let counter = 0;
const open: MyServer[] = [];
const clients: DgramClient[] = [];

const pickaddr = () => join(dir, `unix_socket.${++counter}`);

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir());
});
afterEach(async () => {
  for (const server of open.splice(0)) {
    await server.shutdown();
    await server.serverClose();
  }
  for (const client of clients.splice(0)) client.close();
});
afterAll(() => cleanup());

async function make(
  Server: typeof MyServer,
  path: string,
  settings: Record<string, unknown> = {},
  Handler: typeof EchoLine = EchoLine,
): Promise<MyServer> {
  const server = await Server.create(path, Handler, settings as never);
  open.push(server);
  return server;
}

function client(path: string | null = pickaddr()): DgramClient {
  const c = new DgramClient(path);
  clients.push(c);
  return c;
}

/** CPython's dgram_examine: a client bound to its own path sends TEST_STR and reads the echo. */
async function dgramExamine(serverPath: string): Promise<void> {
  const c = client();
  await c.send(TEST_STR, serverPath);
  const reply = await c.receive();
  expect(reply.data.toString()).toBe(TEST_STR);
  expect(reply.from).toBe(serverPath);
}

async function runServer(Server: typeof MyServer) {
  const server = await make(Server, pickaddr());
  const serving = server.serveForever({ pollInterval: 10 });
  for (let i = 0; i < 3; i++) await dgramExamine(server.serverAddress);
  await server.shutdown();
  await serving;
  await server.serverClose();
  expect(server.fileno()).toBe(-1);
  expect(server.errors).toEqual([]);
}

describe('UnixDatagramServer, ported from CPython test_socketserver', () => {
  it('test_UnixDatagramServer: three clients', async () => {
    await runServer(MyServer);
  });

  it('test_UnixDatagramServer with EventLoopMixIn: three clients', async () => {
    await runServer(MyEventLoopServer as unknown as typeof MyServer);
  });

  it('the event-loop twin answers three clients at once', async () => {
    const server = await make(MyEventLoopServer as unknown as typeof MyServer, pickaddr());
    const serving = server.serveForever({ pollInterval: 10 });
    const replies = await Promise.all(
      [0, 1, 2].map(async (i) => {
        const c = client();
        await c.send(`client ${i}\n`, server.serverAddress);
        return (await c.receive()).data.toString();
      }),
    );
    expect(replies).toEqual(['client 0\n', 'client 1\n', 'client 2\n']);
    await server.shutdown();
    await serving;
  });
});

describe('UnixDatagramServer with a Python socket client', () => {
  const script = `
import socket, sys
with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
    s.settimeout(10)
    s.bind(sys.argv[2])
    for i in range(3):
        s.sendto(b"hello world %d\\n" % i, sys.argv[1])
        data, addr = s.recvfrom(100)
        assert addr == sys.argv[1], addr
        sys.stdout.write(data.decode())
`;
  for (const [name, Server] of [
    ['plain', MyServer],
    ['event loop', MyEventLoopServer as unknown as typeof MyServer],
  ] as const) {
    it(`${name}: AF_UNIX SOCK_DGRAM client bound to a path, three datagrams`, async () => {
      const server = await make(Server, pickaddr());
      const serving = server.serveForever({ pollInterval: 10 });
      const out = await runPython(script, [server.serverAddress, pickaddr()]);
      expect(out).toBe('hello world 0\nhello world 1\nhello world 2\n');
      await server.shutdown();
      await serving;
      expect(server.errors).toEqual([]);
    });
  }

  it('an unbound Python sender: the handler runs, the reply is dropped, reported once, no crash', async () => {
    const seen: string[] = [];
    class Recording extends EchoLine {
      override async handle(): Promise<void> {
        seen.push(this.clientAddress);
        await super.handle();
      }
    }
    const server = await make(MyServer, pickaddr(), {}, Recording);
    const serving = server.serveForever({ pollInterval: 10 });
    await runPython(
      `
import socket, sys
with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
    for i in range(3):
        s.sendto(b"no return address\\n", sys.argv[1])
`,
      [server.serverAddress],
    );
    // Then a bound client, whose reply proves the three were handled first.
    await dgramExamine(server.serverAddress);
    expect(seen.slice(0, 3)).toEqual(['', '', '']);
    expect(server.droppedReplies).toBe(3);
    expect(server.errors).toHaveLength(1);
    expect(server.errors[0]).toBeInstanceOf(UnnamedPeerError);
    expect(server.errors[0]).toMatchObject({ code: 'ERR_SOCKETSERVER_UNNAMED_PEER' });
    await server.shutdown();
    await serving;
  });

  it('an unbound Node sender does not crash the event-loop server either', async () => {
    const server = await make(MyEventLoopServer as unknown as typeof MyServer, pickaddr());
    const serving = server.serveForever({ pollInterval: 10 });
    const unbound = client(null);
    for (let i = 0; i < 5; i++) await unbound.send('anonymous\n', server.serverAddress);
    await dgramExamine(server.serverAddress);
    await server.shutdown();
    await serving;
    await server.serverClose();
    expect(server.droppedReplies).toBe(5);
    expect(server.errors).toHaveLength(1);
  });
});

describe('UnixDatagramServer settings and socket file', () => {
  it('maxPacketSize truncates longer datagrams', async () => {
    class Size extends DatagramRequestHandler<string> {
      override async handle(): Promise<void> {
        await this.wfile.write(String(this.packet.length));
      }
    }
    const server = await make(MyServer, pickaddr(), { maxPacketSize: 100 }, Size as never);
    const serving = server.serveForever({ pollInterval: 10 });
    const c = client();
    await c.send(Buffer.alloc(1000, 1), server.serverAddress);
    expect((await c.receive()).data.toString()).toBe('100');
    await c.send(Buffer.alloc(10, 1), server.serverAddress);
    expect((await c.receive()).data.toString()).toBe('10');
    await server.shutdown();
    await serving;
  });

  it('EADDRINUSE on a live path; the live server keeps working', async () => {
    const path = pickaddr();
    const first = await make(MyServer, path);
    const serving = first.serveForever({ pollInterval: 10 });
    await expect(MyServer.create(path, EchoLine)).rejects.toMatchObject({
      code: 'EADDRINUSE',
      syscall: 'bind',
    });
    await expect(
      MyServer.create(path, EchoLine, { removeStaleSocket: true }),
    ).rejects.toMatchObject({ code: 'EADDRINUSE' });
    await dgramExamine(path);
    await first.shutdown();
    await serving;
  });

  it('a stale socket file is EADDRINUSE by default, removed only with removeStaleSocket', async () => {
    const path = pickaddr();
    const stale = new DgramClient(path);
    stale.close();
    expect((await tryConnect(path))?.code).toBe('ECONNREFUSED');
    await expect(MyServer.create(path, EchoLine)).rejects.toMatchObject({ code: 'EADDRINUSE' });
    expect((await lstat(path)).isSocket()).toBe(true);
    const server = await make(MyServer, path, { removeStaleSocket: true });
    const serving = server.serveForever({ pollInterval: 10 });
    await dgramExamine(path);
    await server.shutdown();
    await serving;
  });

  it('never removes a regular file, even with removeStaleSocket', async () => {
    const path = pickaddr();
    await writeFile(path, 'precious');
    await expect(
      MyServer.create(path, EchoLine, { removeStaleSocket: true }),
    ).rejects.toMatchObject({ code: 'EADDRINUSE' });
    expect((await lstat(path)).isFile()).toBe(true);
  });

  it('serverClose removes the socket file, and only the one it created', async () => {
    const path = pickaddr();
    const server = await make(MyServer, path);
    await server.serverClose();
    await expect(lstat(path)).rejects.toMatchObject({ code: 'ENOENT' });

    const second = await make(MyServer, path);
    await unlink(path);
    await writeFile(path, 'someone else');
    await second.serverClose();
    expect((await lstat(path)).isFile()).toBe(true);
    await unlink(path);
  });

  for (const mode of [0o600, 0o620, 0o777]) {
    it(`mode ${mode.toString(8)} gives the socket file exactly those permissions`, async () => {
      const path = pickaddr();
      const server = await make(MyServer, path, { mode });
      expect((await stat(path)).mode & 0o777).toBe(mode);
      const serving = server.serveForever({ pollInterval: 10 });
      await dgramExamine(path);
      await server.shutdown();
      await serving;
    });
  }

  it('rejects long paths and invalid modes with clear errors', async () => {
    expect(() => new MyServer(join(dir, 'x'.repeat(120)), EchoLine)).toThrow(/108-byte sun_path/);
    expect(() => new MyServer(join(dir, 'x'.repeat(120)), EchoLine)).toThrow(InvalidArgumentError);
    await expect(MyServer.create(pickaddr(), EchoLine, { mode: -1 })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    await expect(
      MyServer.create(`\0ssux-${process.pid}-mode`, EchoLine, { mode: 0o600 }),
    ).rejects.toThrow(/abstract/);
  });

  it('an abstract name: a Python client with an abstract name of its own gets the echo', async () => {
    const name = `\0ssux-${process.pid}-${++counter}`;
    const server = await make(MyServer, name);
    expect(server.serverAddress).toBe(name);
    const serving = server.serveForever({ pollInterval: 10 });
    // Python binds and sends to abstract names of their exact length, as the addon does.
    const out = await runPython(
      `
import socket, sys
server = sys.argv[1].encode()
with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
    s.bind(b"\\0ssux-py-%d" % __import__("os").getpid())
    s.sendto(b"abstract\\n", b"\\0" + server[1:])
    data, addr = s.recvfrom(100)
    assert addr == b"\\0" + server[1:], addr
    sys.stdout.write(data.decode())
`,
      [`@${name.slice(1)}`],
    );
    expect(out).toBe('abstract\n');
    await server.shutdown();
    await serving;
    expect(server.errors).toEqual([]);
    expect(server.droppedReplies).toBe(0);
  });

  it('a reply to a vanished peer goes to handleError; serving continues', async () => {
    const server = await make(MyServer, pickaddr());
    const serving = server.serveForever({ pollInterval: 10 });
    const gonePath = pickaddr();
    const gone = new DgramClient(gonePath);
    await gone.send(TEST_STR, server.serverAddress);
    gone.close();
    await unlink(gonePath);
    await dgramExamine(server.serverAddress);
    expect(server.errors).toHaveLength(1);
    // Refused while the path still exists, ENOENT once it is gone.
    expect(server.errors[0]).toMatchObject({ syscall: 'sendto' });
    expect(['ENOENT', 'ECONNREFUSED']).toContain((server.errors[0] as { code: string }).code);
    await server.shutdown();
    await serving;
  });
});
