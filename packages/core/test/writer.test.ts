import { connect, createServer, type Socket } from 'node:net';
import { createServer as createTLSServer, type TLSSocket, connect as tlsConnect } from 'node:tls';
import { makeCertificates } from '@socketserver/test-deploy';
import { afterEach, describe, expect, it } from 'vitest';
import { Reader } from '../src/reader.js';
import { BufferWriter, SocketWriter } from '../src/writer.js';

/** A connected pair of sockets on loopback. */
async function pair(): Promise<{ server: Socket; client: Socket; close: () => void }> {
  const listener = createServer({ pauseOnConnect: true });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<Socket>((resolve) => listener.once('connection', resolve));
  const client = connect((listener.address() as { port: number }).port, '127.0.0.1');
  const server = await accepted;
  return {
    server,
    client,
    close: () => {
      server.destroy();
      client.destroy();
      listener.close();
    },
  };
}

describe('SocketWriter (wfile)', () => {
  let cleanup: (() => void) | undefined;
  afterEach(() => cleanup?.());

  it('write resolves at once while the kernel takes the data; flush resolves when all is sent', async () => {
    const { server, client, close } = await pair();
    cleanup = close;
    const writer = new SocketWriter(server);
    await writer.write('hello ');
    await writer.write(Buffer.from('world'));
    await writer.flush();
    const received = await new Promise<string>((resolve) =>
      client.once('data', (d) => resolve(String(d))),
    );
    expect(received.startsWith('hello')).toBe(true);
  });

  it('write waits while a non-reading peer holds the data, and resumes when it reads', async () => {
    const { server, client, close } = await pair();
    cleanup = close;
    client.pause();
    const writer = new SocketWriter(server, { highWaterMark: 64 * 1024 });
    const chunk = Buffer.alloc(1024 * 1024);
    let settled = false;
    // Enough to fill the kernel buffers: some write must then wait.
    const writing = (async () => {
      for (let i = 0; i < 64; i++) await writer.write(chunk);
      settled = true;
    })();
    while (writer.bufferedLength <= 64 * 1024) await new Promise((r) => setImmediate(r));
    expect(settled).toBe(false);
    client.resume();
    await writing;
    expect(settled).toBe(true);
  });

  it('writes and flushes reject once the peer is gone', async () => {
    const { server, client, close } = await pair();
    cleanup = close;
    client.pause();
    const writer = new SocketWriter(server);
    const big = Buffer.alloc(8 * 1024 * 1024);
    const pending = writer.write(big);
    client.destroy();
    server.destroy();
    await expect(pending).rejects.toBeInstanceOf(Error);
    await expect(writer.write('more')).rejects.toMatchObject({ code: 'ERR_SOCKETSERVER_CLOSED' });
  });

  it('flush after end waits for the end to be flushed', async () => {
    const { server, client, close } = await pair();
    cleanup = close;
    const writer = new SocketWriter(server);
    const got: Buffer[] = [];
    client.on('data', (d) => got.push(d));
    server.write(Buffer.alloc(256 * 1024));
    server.end();
    await writer.flush();
    expect(server.writableFinished).toBe(true);
  });
});

/** A TLS connection on loopback: the server's TLSSocket (whose writes complete later) and the client. */
async function tlsPair(): Promise<{ server: TLSSocket; client: TLSSocket; close: () => void }> {
  const certs = makeCertificates();
  const listener = createTLSServer({ cert: certs.server.cert, key: certs.server.key });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<TLSSocket>((resolve) => listener.once('secureConnection', resolve));
  const client = tlsConnect({
    port: (listener.address() as { port: number }).port,
    host: '127.0.0.1',
    ca: certs.ca.cert,
    servername: 'localhost',
  });
  client.on('error', () => {});
  const server = await accepted;
  server.on('error', () => {});
  return {
    server,
    client,
    close: () => {
      server.destroy();
      client.destroy();
      listener.close();
      certs.remove();
    },
  };
}

describe('SocketWriter over a TLS socket (writes that complete later)', () => {
  let cleanup: (() => void) | undefined;
  afterEach(() => cleanup?.());

  it('each write waits for its own completion, with no empty write after the first wait', async () => {
    const { server, client, close } = await tlsPair();
    cleanup = close;
    const writes: number[] = [];
    const write = server.write.bind(server) as (...args: any[]) => boolean;
    server.write = ((data: string | Uint8Array, ...rest: any[]) => {
      writes.push(typeof data === 'string' ? Buffer.byteLength(data) : data.length);
      return write(data, ...rest);
    }) as typeof server.write;
    const writer = new SocketWriter(server);
    const lines = Array.from({ length: 50 }, (_, i) => `line ${i}\n`);
    let received = '';
    const all = new Promise<void>((resolve) => {
      client.on('data', (chunk: Buffer) => {
        received += chunk;
        if (received.length === lines.join('').length) resolve();
      });
    });
    for (const line of lines) await writer.write(line);
    await writer.flush();
    await all;
    expect(received).toBe(lines.join(''));
    // One empty write at most: the first wait finds out that writes complete later.
    expect(writes.filter((n) => n === 0).length).toBeLessThanOrEqual(1);
    expect(writes.filter((n) => n > 0)).toHaveLength(50);
  });

  it('a write waiting when the connection fails rejects', async () => {
    const { server, client, close } = await tlsPair();
    cleanup = close;
    const writer = new SocketWriter(server);
    await writer.write('first\n');
    client.destroy();
    const big = Buffer.alloc(4 << 20, 0x61);
    const outcome = await (async () => {
      for (let i = 0; i < 50; i++) await writer.write(big);
      return 'all written';
    })().catch((error: Error) => error);
    expect(outcome).toBeInstanceOf(Error);
  });
});

describe("BufferWriter (a datagram handler's wfile)", () => {
  it('collects writes in order, copying each so the caller may reuse its buffer', async () => {
    const writer = new BufferWriter();
    expect(writer.getValue().length).toBe(0);
    const reused = Buffer.from('one ');
    await writer.write(reused);
    reused.write('XXXX');
    expect(writer.getValue().toString()).toBe('one ');
    await writer.write('two ');
    await writer.write(new Uint8Array([0x33]));
    expect(writer.getValue().toString()).toBe('one two 3');
  });

  it('Reader.from reads fixed bytes, from a Buffer, a Uint8Array or nothing', async () => {
    expect((await Reader.from(new Uint8Array([0x61, 0x0a, 0x62])).readline()).toString()).toBe(
      'a\n',
    );
    const empty = Reader.from(Buffer.alloc(0));
    expect(empty.atEOF).toBe(true);
    expect((await empty.read()).length).toBe(0);
    const whole = Reader.from(Buffer.from('abc'));
    expect(whole.bufferedLength).toBe(3);
    expect((await whole.read()).toString()).toBe('abc');
    expect(whole.atEOF).toBe(true);
  });
});
