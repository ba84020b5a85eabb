import { connect, type Socket } from 'node:net';
import { InvalidArgumentError, StreamRequestHandler } from '@socketserver/core';
import { TCPServer, UDPServer } from '@socketserver/transport-inet';
import { afterEach, describe, expect, it } from 'vitest';
import { SharedState } from '../src/shared-state.js';
import { ThreadingMixIn } from '../src/threading-mixin.js';
import {
  BadHandler,
  DatagramEcho,
  Describe,
  EchoBytes,
  EchoLine,
  EchoLines,
  ExitingHandler,
  LateReader,
  Meet,
  Sink,
  SmallSource,
  Source,
} from './fixtures/handlers.mjs';
import { datagram, deferred, exchange, serve } from './helpers.js';

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve));
}

const HOST = '127.0.0.1';
const TEST_STR = 'hello world\n';

class ThreadingTCPServer extends ThreadingMixIn(TCPServer) {}
class ThreadingUDPServer extends ThreadingMixIn(UDPServer) {}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * Asks a `Handler` that writes `downSize` bytes (the size on one line) for
 * them from a peer that reads nothing yet: the main thread must hold at most
 * 256 KiB and the handler must stop before half is written; then the peer
 * reads, and every byte arrives.
 */
async function expectDownloadHeldBack(
  Handler: typeof Source | typeof SmallSource,
  downSize: number,
): Promise<void> {
  class Server extends ThreadingTCPServer {
    captured: Socket | null = null;
    override verifyRequest(request: Socket) {
      this.captured = request;
      return true;
    }
  }
  const down = await Server.create({ host: HOST, port: 0 }, Handler);
  cleanups.push(serve(down));
  const reader = connect(down.serverAddress.port, HOST);
  reader.pause();
  reader.write(`${downSize}\n`);
  await until(() => down.captured !== null && down.captured.bytesWritten > 0);
  let maxBuffered = 0;
  let written = -1;
  for (let turn = 0; turn < 200 && written !== down.captured!.bytesWritten; turn++) {
    written = down.captured!.bytesWritten;
    maxBuffered = Math.max(maxBuffered, down.captured!.writableLength);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  expect(maxBuffered).toBeLessThanOrEqual(256 * 1024);
  expect(down.captured!.bytesWritten).toBeLessThan(downSize / 2);
  let total = 0;
  reader.on('data', (chunk) => {
    total += chunk.length;
  });
  const ended = new Promise((resolve) => reader.on('end', resolve));
  reader.resume();
  await ended;
  expect(total).toBe(downSize);
  reader.destroy();
}

describe('ThreadingMixIn: CPython SocketServerTest', () => {
  it('test_ThreadingTCPServer: three clients echoed; serverClose releases the socket and every worker', async () => {
    const server = await ThreadingTCPServer.create({ host: HOST, port: 0 }, EchoLine);
    expect(server.serverAddress.port).toBeGreaterThan(0);
    expect(server.fileno()).toBeGreaterThanOrEqual(0);
    const stop = serve(server);
    for (let i = 0; i < 3; i++) {
      expect((await exchange(server.serverAddress, TEST_STR)).toString()).toBe(TEST_STR);
    }
    await stop();
    expect(server.fileno()).toBe(-1);
    expect(server.activeThreads).toBe(0);
  });

  it('test_ThreadingUDPServer: three datagrams echoed from the server socket', async () => {
    const server = await ThreadingUDPServer.create({ host: HOST, port: 0 }, DatagramEcho);
    const stop = serve(server);
    cleanups.push(stop);
    for (let i = 0; i < 3; i++) {
      expect((await datagram(server.serverAddress, TEST_STR)).toString()).toBe(TEST_STR);
    }
    await stop();
    expect(server.fileno()).toBe(-1);
    expect(server.activeThreads).toBe(0);
  });
});

describe('ThreadingMixIn: ErrorHandlerTest', () => {
  class ErrorTestServer extends ThreadingTCPServer {
    state = new SharedState({ called: 'int32' });
    handled: unknown[] = [];
    shutdownDone = deferred();
    override handleError(_request: unknown, _clientAddress: unknown, error: unknown) {
      this.handled.push(error);
    }
    override async shutdownRequest(request: any) {
      await super.shutdownRequest(request);
      this.shutdownDone.resolve();
    }
  }

  async function runOnce(Handler: typeof BadHandler | typeof ExitingHandler) {
    const server = await ErrorTestServer.create({ host: HOST, port: 0 }, Handler);
    cleanups.push(() => server.serverClose());
    const client = connect(server.serverAddress.port, HOST);
    client.on('error', () => {});
    await server.handleRequest();
    await server.shutdownDone.promise;
    client.destroy();
    await server.serverClose();
    return server;
  }

  it('test_threading_handled: the handler error reaches handleError with the worker stack', async () => {
    const server = await runOnce(BadHandler);
    expect(server.state.fields.called[0]).toBe(1);
    expect(server.handled).toHaveLength(1);
    const error = server.handled[0] as Error & { code?: string };
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('ValueError');
    expect(error.message).toBe('Test error');
    expect(error.code).toBe('E_TEST');
    expect(error.stack).toContain('handlers.mjs');
  });

  it('test_threading_not_handled: process.exit in the handler (SystemExit) is not passed to handleError', async () => {
    const server = await runOnce(ExitingHandler);
    expect(server.state.fields.called[0]).toBe(1);
    expect(server.handled).toEqual([]);
    expect(server.activeThreads).toBe(0);
  });
});

describe('ThreadingMixIn: threads', () => {
  it('test_threads_reaped: threads are reused, and none is left after serverClose', async () => {
    const server = await ThreadingTCPServer.create({ host: HOST, port: 0 }, EchoLine);
    cleanups.push(() => server.serverClose());
    server.maxThreads = 2;
    const stop = serve(server);
    for (let n = 0; n < 10; n++) {
      expect((await exchange(server.serverAddress, 'x\n')).toString()).toBe('x\n');
    }
    expect(server.activeThreads).toBeLessThan(10);
    expect(server.activeThreads).toBeGreaterThan(0);
    await stop();
    expect(server.activeThreads).toBe(0);
    expect(server.activeRequests).toBe(0);
  });

  it('handlers run in parallel: each sets its flag in shared memory and meets the other', async () => {
    class Server extends ThreadingTCPServer {
      state = new SharedState({ flags: ['int32', 2] });
    }
    const server = await Server.create({ host: HOST, port: 0 }, Meet, { maxThreads: 2 });
    cleanups.push(serve(server));
    const replies = await Promise.all([
      exchange(server.serverAddress, '0\n'),
      exchange(server.serverAddress, '1\n'),
    ]);
    expect(replies.map(String)).toEqual(['met\n', 'met\n']);
    expect(Array.from(server.state.fields.flags)).toEqual([1, 1]);
  });

  it('the same handler sees a socket-like request and the server data fields in the worker', async () => {
    class Server extends ThreadingTCPServer {
      label = 'from-main';
    }
    const server = await Server.create({ host: HOST, port: 0 }, Describe);
    cleanups.push(serve(server));
    const client = connect(server.serverAddress.port, HOST);
    const chunks: Buffer[] = [];
    client.on('data', (chunk) => chunks.push(chunk));
    await new Promise((resolve) => client.once('connect', resolve));
    const localPort = client.localPort;
    client.write('go\n');
    await new Promise((resolve) => client.on('close', resolve));
    const info = JSON.parse(Buffer.concat(chunks).toString());
    expect(info.threadId).toBeGreaterThan(0);
    expect(info.remoteAddress).toBe(HOST);
    expect(info.remotePort).toBe(localPort);
    expect(info.localPort).toBe(server.serverAddress.port);
    expect(info.clientAddress).toEqual({ host: HOST, port: localPort, family: 'IPv4' });
    expect(info.serverAddress).toEqual(server.serverAddress);
    expect(info.label).toBe('from-main');
    expect(info.hasSocket).toBe(false);
  });

  it('a kept connection carries many round trips through one worker', async () => {
    const server = await ThreadingTCPServer.create({ host: HOST, port: 0 }, EchoLines);
    cleanups.push(serve(server));
    const client = connect(server.serverAddress.port, HOST);
    let received = '';
    const lines = 200;
    let sent = 0;
    const done = deferred();
    client.on('data', (chunk) => {
      received += chunk;
      const count = received.split('\n').length - 1;
      if (count === sent && sent < lines) client.write(`line ${sent++}\n`);
      if (count === lines) done.resolve();
    });
    client.write(`line ${sent++}\n`);
    await done.promise;
    client.end();
    await new Promise((resolve) => client.on('close', resolve));
    expect(received.split('\n').slice(0, 3)).toEqual(['line 0', 'line 1', 'line 2']);
  });

  it('backpressure: 8 MiB up through a slow reader and 8 MiB down to a paused peer arrive whole', async () => {
    const up = await ThreadingTCPServer.create({ host: HOST, port: 0 }, Sink);
    cleanups.push(serve(up));
    const size = 8 * 1024 * 1024;
    const reply = await exchange(up.serverAddress, Buffer.alloc(size, 0x62), { end: true });
    expect(reply.toString()).toBe(`${size}\n`);

    const down = await ThreadingTCPServer.create({ host: HOST, port: 0 }, Source);
    cleanups.push(serve(down));
    const client = connect(down.serverAddress.port, HOST);
    client.write(`${size}\n`);
    // Read nothing until the server's send buffers are full, then read all.
    client.pause();
    let total = 0;
    await new Promise<void>((resolve) => {
      const check = () => {
        const openOnMain = (down as unknown as { openConnections: number }).openConnections;
        if (openOnMain > 0 && down.activeRequests > 0) {
          client.on('data', (chunk) => {
            total += chunk.length;
          });
          client.on('end', () => resolve());
          client.resume();
        } else setImmediate(check);
      };
      check();
    });
    expect(total).toBe(size);
    client.destroy();
  });

  it('memory stays bounded: a handler that does not read stops the main thread reading; a peer that does not read stops the handler', async () => {
    class Server extends ThreadingTCPServer {
      state = new SharedState({ gate: ['int32', 2] });
      captured: Socket | null = null;
      override verifyRequest(request: Socket) {
        this.captured = request;
        return true;
      }
    }
    const size = 8 * 1024 * 1024;
    // Upload to a handler that reads nothing yet.
    const up = await Server.create({ host: HOST, port: 0 }, LateReader);
    cleanups.push(serve(up));
    const client = connect(up.serverAddress.port, HOST);
    const chunks: Buffer[] = [];
    client.on('data', (chunk) => chunks.push(chunk));
    const closed = new Promise((resolve) => client.on('close', resolve));
    client.end(Buffer.alloc(size, 0x63));
    await until(() => Atomics.load(up.state.fields.gate, 1) === 1 && up.captured !== null);
    // Let the bytes flow as far as they can: the main thread stops at its credit.
    let read = -1;
    for (let turn = 0; turn < 200 && read !== up.captured!.bytesRead; turn++) {
      read = up.captured!.bytesRead;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(up.captured!.bytesRead).toBeLessThanOrEqual(512 * 1024);
    Atomics.store(up.state.fields.gate, 0, 1);
    await closed;
    expect(Buffer.concat(chunks).toString()).toBe(`${size}\n`);

    // Download to a peer that reads nothing yet: far more than the kernel's loopback buffers
    // (several MiB with autotuning) can hold, so "stopped" cannot be confused with "absorbed".
    // Without backpressure the whole download would sit in the main thread's buffer.
    await expectDownloadHeldBack(Source, 32 * 1024 * 1024);
  });

  it('bytes of every size arrive whole and in order: small chunks travel framed, large ones transferred', async () => {
    const server = await ThreadingTCPServer.create({ host: HOST, port: 0 }, EchoBytes);
    cleanups.push(serve(server));
    // Pseudo-random bytes, so a chunk delivered twice, dropped or out of order shows.
    const input = Buffer.alloc(700_000);
    let seed = 12345;
    for (let i = 0; i < input.length; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      input[i] = seed >>> 24;
    }
    const client = connect(server.serverAddress.port, HOST);
    const chunks: Buffer[] = [];
    let received = 0;
    let waiter: (() => void) | null = null;
    client.on('data', (chunk) => {
      chunks.push(chunk);
      received += chunk.length;
      waiter?.();
    });
    const closed = new Promise((resolve) => client.on('close', resolve));
    // First one small piece at a time, each ending a line and echoed before the
    // next is sent, so the main thread reads small chunks (framed); then a
    // burst of every size.
    let at = 0;
    for (const size of [3, 1, 500, 64, 2000, 9, 16_383]) {
      input[at + size - 1] = 0x0a;
      client.write(input.subarray(at, at + size));
      at += size;
      await new Promise<void>((resolve) => {
        waiter = () => {
          if (received === at) resolve();
        };
        waiter();
      });
    }
    waiter = null;
    const sizes = [3, 16_384, 1, 70_000, 16_383, 500, 16_385, 9];
    for (let i = 0; at < input.length; i++) {
      const end = Math.min(input.length, at + sizes[i % sizes.length]!);
      client.write(input.subarray(at, end));
      at = end;
    }
    client.end();
    await closed;
    const output = Buffer.concat(chunks);
    expect(output.length).toBe(input.length);
    expect(output.equals(input)).toBe(true);
  });

  it('memory stays bounded with small writes: a peer that does not read stops a handler writing 1000-byte chunks', async () => {
    // Far more than the kernel's loopback buffers can hold (see the test above).
    await expectDownloadHeldBack(SmallSource, 24 * 1024 * 1024);
  });

  it('a handler without moduleUrl gets a clear error, reported through handleError', async () => {
    class Local extends StreamRequestHandler {}
    const errors: unknown[] = [];
    class Server extends ThreadingTCPServer {
      override handleError(_r: unknown, _a: unknown, error: unknown) {
        errors.push(error);
      }
    }
    const server = await Server.create({ host: HOST, port: 0 }, Local);
    cleanups.push(serve(server));
    expect((await exchange(server.serverAddress, 'x\n')).length).toBe(0);
    expect(errors[0]).toBeInstanceOf(InvalidArgumentError);
    expect(String((errors[0] as Error).message)).toContain('static moduleUrl = import.meta.url');
    await expect(server.startThreads()).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('rejects invalid pool settings at once', async () => {
    const server = new ThreadingTCPServer({ host: HOST, port: 0 }, EchoLine);
    server.maxThreads = 0;
    await expect(server.startThreads()).rejects.toThrow(/maxThreads/);
    await server.serverClose();
  });

  it('blockOnClose waits for a running request; the reply reaches the peer', async () => {
    const server = await ThreadingTCPServer.create({ host: HOST, port: 0 }, EchoLine);
    const stop = serve(server);
    const client = connect(server.serverAddress.port, HOST);
    const chunks: Buffer[] = [];
    client.on('data', (chunk) => chunks.push(chunk));
    const closed = new Promise((resolve) => client.on('close', resolve));
    // The request is taken and handed to a worker, which waits for a line.
    while (server.activeRequests === 0) await new Promise((resolve) => setImmediate(resolve));
    const closing = stop();
    client.write('late line\n');
    await closing;
    await closed;
    expect(Buffer.concat(chunks).toString()).toBe('late line\n');
    expect(server.activeThreads).toBe(0);
  });
});

describe('ThreadingMixIn: a failing handleError', () => {
  it('a handleError that throws does not crash the process; serving goes on', async () => {
    let calls = 0;
    class Server extends ThreadingTCPServer {
      state = new SharedState({ called: 'int32' });
      override handleError(): void {
        calls++;
        throw new Error('handleError failed');
      }
    }
    const server = await Server.create({ host: HOST, port: 0 }, BadHandler);
    cleanups.push(serve(server));
    await exchange(server.serverAddress, 'x\n');
    await exchange(server.serverAddress, 'x\n');
    expect(server.state.fields.called[0]).toBe(2);
    expect(calls).toBeGreaterThanOrEqual(2);
  });
});
