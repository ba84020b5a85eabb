/**
 * The PROXY protocol on real connections: reading the header off a socket
 * (split, joined with data, followed by end of stream, truncated, slow,
 * malformed) and a stream server that requires it (clientAddress, the header
 * for handlers, untrusted sources, errors to handleError, nothing reaching a
 * handler that should not).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import { InvalidArgumentError } from '../src/errors.js';
import { EventLoopMixIn } from '../src/event-loop-mixin.js';
import { readProxyHeader } from '../src/proxy-header-reader.js';
import { ProxyProtocolError } from '../src/proxy-protocol.js';
import { StreamRequestHandler } from '../src/stream-request-handler.js';
import type { InetAddress } from '../src/types.js';
import { dial, LoopbackServer, received } from './loopback-server.js';
import { tlv, v2 } from './proxy-headers.js';

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

/** A raw listener whose accepted sockets stay paused, as a StreamServer's do. */
async function pausedListener(): Promise<{
  server: Server;
  address: InetAddress;
  next: () => Promise<Socket>;
}> {
  const waiting: Socket[] = [];
  const wakers: Array<(socket: Socket) => void> = [];
  const server = createServer({ pauseOnConnect: true, allowHalfOpen: true }, (socket) => {
    const wake = wakers.shift();
    if (wake) wake(socket);
    else waiting.push(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(() => new Promise((resolve) => server.close(resolve)));
  const { port } = server.address() as { port: number };
  return {
    server,
    address: { host: '127.0.0.1', port, family: 'IPv4' },
    next: () => {
      const socket = waiting.shift();
      return socket ? Promise.resolve(socket) : new Promise((resolve) => wakers.push(resolve));
    },
  };
}

async function pair(): Promise<{ client: Socket; server: Socket }> {
  const listener = await pausedListener();
  const client = await dial(listener.address);
  const server = await listener.next();
  cleanup.push(() => {
    client.destroy();
    server.destroy();
  });
  return { client, server };
}

function readRest(socket: Socket): Promise<string> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.resume();
  return new Promise((resolve) =>
    socket.once('end', () => resolve(Buffer.concat(chunks).toString())),
  );
}

describe('readProxyHeader', () => {
  test('a header and data in one write: the data is left for the reader', async () => {
    const { client, server } = await pair();
    client.end(Buffer.concat([v2({ source: ['203.0.113.9', 4000] }), Buffer.from('hello\n')]));
    const header = await readProxyHeader(server, 5_000);
    expect(header?.source).toEqual({ host: '203.0.113.9', port: 4000, family: 'IPv4' });
    expect(server.isPaused()).toBe(true);
    expect(await readRest(server)).toBe('hello\n');
  });

  test('a header sent one byte at a time, then data', async () => {
    const { client, server } = await pair();
    const reading = readProxyHeader(server, 5_000);
    const bytes = Buffer.from('PROXY TCP4 198.51.100.3 192.0.2.1 1234 80\r\nrest');
    for (const byte of bytes) {
      await new Promise<void>((resolve) => client.write(Buffer.from([byte]), () => resolve()));
    }
    client.end();
    expect((await reading)?.source).toEqual({ host: '198.51.100.3', port: 1234, family: 'IPv4' });
    expect(await readRest(server)).toBe('rest');
  });

  test('end of stream right after the header: no data, then end', async () => {
    const { client, server } = await pair();
    client.end('PROXY UNKNOWN\r\n');
    expect(await readProxyHeader(server, 5_000)).toMatchObject({ version: 1, source: null });
    expect(await readRest(server)).toBe('');
  });

  test('a peer that closes without a byte: null, nothing to report', async () => {
    const { client, server } = await pair();
    client.end();
    expect(await readProxyHeader(server, 5_000)).toBeNull();
  });

  test('truncated: the peer ends in the middle of a header', async () => {
    const { client, server } = await pair();
    client.end(v2().subarray(0, 20));
    await expect(readProxyHeader(server, 5_000)).rejects.toMatchObject({
      reason: 'truncated',
      message: expect.stringContaining('after 20 bytes'),
    });
  });

  test('slow: the deadline counts from the start, however often bytes trickle in', async () => {
    const { client, server } = await pair();
    const started = Date.now();
    const reading = readProxyHeader(server, 300);
    const trickle = setInterval(() => client.write('P'), 50); // never a valid header past "PROXY "? No: stays a prefix
    cleanup.push(() => clearInterval(trickle));
    client.write('PROXY TCP4 1.2.3.4 '); // a valid beginning
    clearInterval(trickle);
    const keepAlive = setInterval(() => client.write('1'), 50); // digits of an address that never ends
    cleanup.push(() => clearInterval(keepAlive));
    const error = await reading.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ProxyProtocolError);
    expect(error).toMatchObject({ reason: 'timeout' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  test('malformed bytes are refused at once, not at the deadline', async () => {
    const { client, server } = await pair();
    const started = Date.now();
    client.write('GET / HTTP/1.1\r\n');
    await expect(readProxyHeader(server, 20_000)).rejects.toMatchObject({ reason: 'malformed' });
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

class AddressHandler extends StreamRequestHandler {
  static seen: Array<{ clientAddress: unknown; alpn?: string; authority?: string; line: string }> =
    [];
  override async handle(): Promise<void> {
    const line = (await this.rfile.readline()).toString();
    AddressHandler.seen.push({
      clientAddress: this.clientAddress,
      alpn: this.proxyHeader?.alpn,
      authority: this.proxyHeader?.authority,
      line,
    });
    await this.wfile.write(`${JSON.stringify(this.clientAddress)} ${line}`);
  }
}

class ProxyServer extends EventLoopMixIn(LoopbackServer) {
  verified: unknown[] = [];
  override verifyRequest(_request: unknown, clientAddress: unknown): boolean {
    this.verified.push(clientAddress);
    return true;
  }
}

async function startProxyServer(settings: Record<string, unknown> = {}): Promise<ProxyServer> {
  AddressHandler.seen = [];
  const server = (await (ProxyServer as unknown as typeof LoopbackServer).create(
    null as never,
    AddressHandler as never,
    { proxyProtocol: true, ...settings } as never,
  )) as unknown as ProxyServer;
  const loop = server.serveForever({ pollInterval: 50 });
  cleanup.push(async () => {
    await server.shutdown();
    await loop;
    await server.serverClose();
  });
  return server;
}

describe('a stream server with proxyProtocol', () => {
  test('verifyRequest, the handler and its proxyHeader see the client the header names', async () => {
    const server = await startProxyServer();
    const client = await dial(server.serverAddress);
    const reply = received(client);
    client.end(
      Buffer.concat([
        v2({
          family: 'inet6',
          source: ['2001:db8::42', 50000],
          destination: ['2001:db8::1', 443],
          tlvs: [
            { type: 0x01, value: 'http/1.1' },
            { type: 0x02, value: 'www.example' },
          ],
        }),
        Buffer.from('hi\n'),
      ]),
    );
    const client6 = { host: '2001:db8::42', port: 50000, family: 'IPv6' };
    expect(await reply).toBe(`${JSON.stringify(client6)} hi\n`);
    expect(server.verified).toEqual([client6]);
    expect(AddressHandler.seen).toEqual([
      { clientAddress: client6, alpn: 'http/1.1', authority: 'www.example', line: 'hi\n' },
    ]);
    expect(server.errors).toEqual([]);
  });

  test('a LOCAL header (a health check) keeps the real peer', async () => {
    const server = await startProxyServer();
    const client = await dial(server.serverAddress);
    const peer = { host: '127.0.0.1', port: client.localPort, family: 'IPv4' };
    const reply = received(client);
    client.end(
      Buffer.concat([
        v2({ command: 'local', family: 'unspec', transport: 'unspec' }),
        Buffer.from('x\n'),
      ]),
    );
    expect(await reply).toBe(`${JSON.stringify(peer)} x\n`);
  });

  test('an untrusted source is closed unread and reported; no handler runs', async () => {
    const server = await startProxyServer({ proxyProtocolFrom: ['10.0.0.0/8', 'fd00::/8'] });
    const client = await dial(server.serverAddress);
    const port = client.localPort;
    const reply = received(client);
    client.write('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nhi\n');
    expect(await reply).toBe('');
    await server.errorCount(1);
    expect(server.errors[0]!.error).toMatchObject({
      code: 'ERR_SOCKETSERVER_PROXY_PROTOCOL',
      reason: 'untrusted',
      message: expect.stringContaining('127.0.0.1:'),
    });
    expect(server.errors[0]!.address).toEqual({ host: '127.0.0.1', port, family: 'IPv4' });
    expect(AddressHandler.seen).toEqual([]);
    expect(server.verified).toEqual([]);
  });

  test('malformed, truncated and slow headers: closed, reported with the peer, never handled', async () => {
    const server = await startProxyServer({ proxyHeaderTimeout: 200 });
    const cases: Array<[string, (socket: Socket) => void]> = [
      ['malformed', (socket) => socket.write('GET / HTTP/1.0\r\n\r\n')],
      ['truncated', (socket) => socket.end(v2().subarray(0, 15))],
      ['timeout', (socket) => socket.write('PROXY TCP4 ')],
      [
        'malformed',
        (socket) => socket.write(v2({ tlvs: [{ type: 0x03, value: Buffer.alloc(4, 1) }] })),
      ],
    ];
    const replies: Promise<string>[] = [];
    for (const [, send] of cases) {
      const client = await dial(server.serverAddress);
      replies.push(received(client));
      send(client);
    }
    expect(await Promise.all(replies)).toEqual(cases.map(() => ''));
    await server.errorCount(cases.length);
    expect(server.errors.map((e) => (e.error as ProxyProtocolError).reason).sort()).toEqual(
      cases.map(([reason]) => reason).sort(),
    );
    expect(AddressHandler.seen).toEqual([]);
  });

  test('a peer that connects and leaves without a byte is not reported', async () => {
    const server = await startProxyServer();
    const client = await dial(server.serverAddress);
    const closed = received(client);
    client.end();
    await closed;
    // A second, real connection proves the first was fully processed before it.
    const second = await dial(server.serverAddress);
    const reply = received(second);
    second.end(Buffer.concat([v2({ source: ['192.0.2.1', 9] }), Buffer.from('ok\n')]));
    expect(await reply).toContain('ok');
    expect(server.errors).toEqual([]);
  });

  test('serverClose closes connections still waiting for their header', async () => {
    const server = await startProxyServer({ proxyHeaderTimeout: 60_000 });
    const client = await dial(server.serverAddress);
    const closed = received(client);
    client.write('PROXY ');
    await new Promise((resolve) => setImmediate(resolve));
    await server.shutdown();
    await server.serverClose();
    expect(await closed).toBe('');
  });

  test('the plain (one at a time) server works the same', async () => {
    const server = (await LoopbackServer.create(
      null as never,
      AddressHandler as never,
      {
        proxyProtocol: true,
      } as never,
    )) as LoopbackServer;
    const loop = server.serveForever({ pollInterval: 50 });
    cleanup.push(async () => {
      await server.shutdown();
      await loop;
      await server.serverClose();
    });
    const client = await dial(server.serverAddress);
    const reply = received(client);
    client.end(
      Buffer.concat([
        v2({ source: ['192.0.2.77', 7] }),
        tlv({ type: 0xe0, value: '' }),
        Buffer.from('p\n'),
      ]),
    );
    expect(await reply).toContain('"host":"192.0.2.77"');
    // The TLV-like bytes after the header are data: the header's length did not include them.
    expect(Buffer.from(AddressHandler.seen[0]!.line, 'utf8').subarray(-5)).toEqual(
      Buffer.from('\u{fffd}\0\0p\n', 'utf8').subarray(-5),
    );
  });

  test('invalid settings fail create at once', async () => {
    await expect(
      LoopbackServer.create(
        null as never,
        AddressHandler as never,
        {
          proxyProtocol: true,
          proxyProtocolFrom: ['10.0.0.0/33'],
        } as never,
      ),
    ).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(
      LoopbackServer.create(
        null as never,
        AddressHandler as never,
        {
          proxyProtocol: true,
          proxyHeaderTimeout: 0,
        } as never,
      ),
    ).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});
