/**
 * Ports of CPython's Lib/test/test_socketserver.py that apply to TCP and UDP,
 * plain and event-loop.
 */
import { createServer as createNetServer } from 'node:net';
import {
  DatagramRequestHandler,
  EventLoopMixIn,
  type InetAddress,
  StreamRequestHandler,
} from '@socketserver/core';
import { describe, expect, it } from 'vitest';
import { reusePortWorks } from '../src/address.js';
import { TCPServer, UDPServer } from '../src/index.js';
import { serve, tcpExchange, udpExchange } from './helpers.js';

const TEST_STR = 'hello world\n';

class MyStreamHandler extends StreamRequestHandler {
  override async handle() {
    const line = await this.rfile.readline();
    await this.wfile.write(line);
  }
}

class MyDatagramHandler extends DatagramRequestHandler {
  override async handle() {
    const line = await this.rfile.readline();
    await this.wfile.write(line);
  }
}

class EventLoopTCPServer extends EventLoopMixIn(TCPServer) {}
class EventLoopUDPServer extends EventLoopMixIn(UDPServer) {}

const hosts = ['127.0.0.1', '::1'];

describe.each(hosts)('run_server over %s', (host) => {
  it.each([
    ['TCPServer', TCPServer],
    ['EventLoopTCPServer', EventLoopTCPServer],
  ])('test_%s: three clients each get the line back', async (_name, Server) => {
    const server = await Server.create({ host, port: 0 }, MyStreamHandler);
    expect(server.serverAddress.port).toBeGreaterThan(0);
    expect(server.serverAddress.host).toBe(host);
    const running = serve(server);
    for (let i = 0; i < 3; i++)
      expect(await tcpExchange(server.serverAddress, TEST_STR)).toBe(TEST_STR);
    await running.stop();
    expect(server.fileno()).toBe(-1);
  });

  it.each([
    ['UDPServer', UDPServer],
    ['EventLoopUDPServer', EventLoopUDPServer],
  ])('test_%s: three clients each get the datagram back', async (_name, Server) => {
    const server = await Server.create({ host, port: 0 }, MyDatagramHandler);
    expect(server.serverAddress.port).toBeGreaterThan(0);
    const running = serve(server);
    for (let i = 0; i < 3; i++)
      expect(await udpExchange(server.serverAddress, TEST_STR)).toBe(TEST_STR);
    await running.stop();
  });
});

describe('dual stack', () => {
  it('a TCP server on :: answers IPv4 and IPv6 clients; ipv6Only refuses IPv4', async () => {
    const server = await TCPServer.create({ host: '::', port: 0 }, MyStreamHandler);
    const running = serve(server);
    const { port } = server.serverAddress;
    expect(await tcpExchange({ host: '127.0.0.1', port, family: 'IPv4' }, TEST_STR)).toBe(TEST_STR);
    expect(await tcpExchange({ host: '::1', port, family: 'IPv6' }, TEST_STR)).toBe(TEST_STR);
    await running.stop();

    const v6only = await TCPServer.create({ host: '::', port: 0 }, MyStreamHandler, {
      ipv6Only: true,
    });
    const running6 = serve(v6only);
    const v4 = { host: '127.0.0.1', port: v6only.serverAddress.port, family: 'IPv4' } as const;
    await expect(tcpExchange(v4, TEST_STR)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await running6.stop();
  });

  it('a UDP server on :: answers IPv4 and IPv6 clients', async () => {
    const server = await UDPServer.create(['::', 0], MyDatagramHandler);
    const running = serve(server);
    const { port } = server.serverAddress;
    expect(await udpExchange({ host: '127.0.0.1', port, family: 'IPv4' }, 'v4\n')).toBe('v4\n');
    expect(await udpExchange({ host: '::1', port, family: 'IPv6' }, 'v6\n')).toBe('v6\n');
    await running.stop();
  });
});

describe('lifecycle', () => {
  it('test_shutdown: several servers started, then shut down while serveForever runs', async () => {
    const servers = await Promise.all(
      Array.from({ length: 5 }, () =>
        TCPServer.create({ host: '127.0.0.1', port: 0 }, MyStreamHandler),
      ),
    );
    const loops = servers.map((s) => s.serveForever({ pollInterval: 10 }));
    for (const server of servers) await server.shutdown();
    await Promise.all(loops);
    for (const server of servers) {
      expect(server.serving).toBe(false);
      await server.serverClose();
    }
  });

  it('test_close_immediately: a server closed without serving', async () => {
    const tcp = await TCPServer.create({ host: '127.0.0.1', port: 0 }, MyStreamHandler);
    await tcp.serverClose();
    await tcp.serverClose();
    const udp = await UDPServer.create({ host: '127.0.0.1', port: 0 }, MyDatagramHandler);
    await udp.serverClose();
  });

  it('new does no I/O; serverBind and serverActivate do', async () => {
    const server = new TCPServer({ host: '127.0.0.1', port: 0 }, MyStreamHandler);
    expect(server.socket).toBeNull();
    expect(server.fileno()).toBe(-1);
    await server.serverBind();
    await server.serverActivate();
    expect(server.serverAddress.port).toBeGreaterThan(0);
    expect(server.fileno()).toBeGreaterThan(0);
    await server.serverClose();
  });

  it('the port is free again after serverClose', async () => {
    const first = await TCPServer.create({ host: '127.0.0.1', port: 0 }, MyStreamHandler);
    const port = first.serverAddress.port;
    await first.serverClose();
    const second = await TCPServer.create({ host: '127.0.0.1', port }, MyStreamHandler);
    expect(second.serverAddress.port).toBe(port);
    await second.serverClose();
  });

  it('test_tcpserver_bind_leak: failed binds reject with the system error and leak nothing', async () => {
    const taken = createNetServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    const before = process.getActiveResourcesInfo().length;
    for (let i = 0; i < 50; i++) {
      await expect(
        TCPServer.create({ host: '127.0.0.1', port }, MyStreamHandler),
      ).rejects.toMatchObject({
        code: 'EADDRINUSE',
      });
    }
    // 192.0.2.1 (TEST-NET-1) is not an address of this host: binding fails locally, no traffic is sent.
    await expect(
      TCPServer.create({ host: '192.0.2.1', port: 0 }, MyStreamHandler),
    ).rejects.toMatchObject({
      code: 'EADDRNOTAVAIL',
    });
    await expect(
      UDPServer.create({ host: '192.0.2.1', port: 0 }, MyDatagramHandler),
    ).rejects.toMatchObject({
      code: 'EADDRNOTAVAIL',
    });
    // Handles close asynchronously: give the loop a bounded number of turns to finish closing them.
    for (let turn = 0; turn < 100 && process.getActiveResourcesInfo().length > before; turn++) {
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    expect(process.getActiveResourcesInfo().length).toBeLessThanOrEqual(before);
    await new Promise<void>((resolve) => taken.close(() => resolve()));
  });

  it('test_context_manager: await using closes the server', async () => {
    let address: InetAddress;
    {
      await using server = await TCPServer.create({ host: '127.0.0.1', port: 0 }, MyStreamHandler);
      address = server.serverAddress;
      serve(server);
      expect(await tcpExchange(address, TEST_STR)).toBe(TEST_STR);
    }
    await expect(tcpExchange(address, TEST_STR)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('test_shutdown_request_called_if_verify_request_false', async () => {
    const shutdowns: unknown[] = [];
    let handled = 0;
    class Refusing extends TCPServer {
      override verifyRequest() {
        return false;
      }
      override shutdownRequest(request: Parameters<TCPServer['shutdownRequest']>[0]) {
        shutdowns.push(request);
        return super.shutdownRequest(request);
      }
    }
    class Counting extends StreamRequestHandler {
      override handle() {
        handled++;
      }
    }
    const server = await Refusing.create({ host: '127.0.0.1', port: 0 }, Counting);
    const running = serve(server);
    expect(await tcpExchange(server.serverAddress, TEST_STR)).toBe('');
    await running.stop();
    expect(shutdowns).toHaveLength(1);
    expect(handled).toBe(0);
  });

  it('allowReuseAddress lets two UDP servers share a port', async () => {
    const a = await UDPServer.create({ host: '127.0.0.1', port: 0 }, MyDatagramHandler, {
      allowReuseAddress: true,
    });
    const b = await UDPServer.create(
      { host: '127.0.0.1', port: a.serverAddress.port },
      MyDatagramHandler,
      { allowReuseAddress: true },
    );
    expect(b.serverAddress.port).toBe(a.serverAddress.port);
    await a.serverClose();
    await b.serverClose();
  });

  it('invalid addresses throw at once', () => {
    expect(() => new TCPServer({ host: '127.0.0.1', port: 70000 }, MyStreamHandler)).toThrow(
      expect.objectContaining({ code: 'ERR_SOCKETSERVER_INVALID_ARGUMENT' }),
    );
    expect(() => new UDPServer({ port: -1 }, MyDatagramHandler)).toThrow(/port must be an integer/);
  });
});

describe('allowReusePort (SO_REUSEPORT)', () => {
  const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
  // What the README's table of Node lines says; the product itself detects the option by trying it.
  const documented = major > 22 || (major === 22 && minor >= 12);

  it(`is detected on this line as the README says (${documented ? 'works' : 'ignored by Node'})`, async () => {
    expect(await reusePortWorks('net')).toBe(documented);
    expect(await reusePortWorks('dgram')).toBe(documented);
  });

  /** Two servers of `Server` on one port, each answering with its tag; returns the tags seen. */
  async function shareOnePort(
    Server: typeof TCPServer | typeof UDPServer,
    exchange: (address: InetAddress) => Promise<string>,
  ): Promise<string[]> {
    class Tag extends StreamRequestHandler {
      override async handle() {
        await this.wfile.write((this.server as unknown as { tag: string }).tag);
      }
    }
    class DatagramTag extends DatagramRequestHandler {
      override async handle() {
        await this.wfile.write((this.server as unknown as { tag: string }).tag);
      }
    }
    const Handler = (Server === TCPServer ? Tag : DatagramTag) as never;
    const settings = { allowReusePort: true } as never;
    const a = await (Server as typeof TCPServer).create(
      { host: '127.0.0.1', port: 0 },
      Handler,
      settings,
    );
    const b = await (Server as typeof TCPServer).create(
      { host: '127.0.0.1', port: a.serverAddress.port },
      Handler,
      settings,
    );
    Object.assign(a, { tag: 'a' });
    Object.assign(b, { tag: 'b' });
    const running = [serve(a), serve(b)];
    const seen = new Set<string>();
    // The kernel spreads connections and datagrams by their source port, new for each
    // exchange: both servers get some within a few.
    for (let i = 0; i < 200 && seen.size < 2; i++) seen.add(await exchange(a.serverAddress));
    for (const server of running) await server.stop();
    return [...seen].sort();
  }

  it('TCP: two servers on one port both receive connections; without the option, a clear error', async () => {
    if (!documented) {
      await expect(
        TCPServer.create({ host: '127.0.0.1', port: 0 }, MyStreamHandler, { allowReusePort: true }),
      ).rejects.toMatchObject({ code: 'ERR_SOCKETSERVER_UNSUPPORTED' });
      return;
    }
    expect(await shareOnePort(TCPServer, (address) => tcpExchange(address, ''))).toEqual([
      'a',
      'b',
    ]);
  });

  it('UDP: two servers on one port both receive datagrams; without the option, a clear error', async () => {
    if (!documented) {
      await expect(
        UDPServer.create({ host: '127.0.0.1', port: 0 }, MyDatagramHandler, {
          allowReusePort: true,
        }),
      ).rejects.toThrow(/Node\.js 22\.12 and later/);
      return;
    }
    expect(await shareOnePort(UDPServer, (address) => udpExchange(address, 'x'))).toEqual([
      'a',
      'b',
    ]);
  });
});
