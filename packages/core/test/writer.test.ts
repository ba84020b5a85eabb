import { connect, createServer, type Socket } from 'node:net';
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
