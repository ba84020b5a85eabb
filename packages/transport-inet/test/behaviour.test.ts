/**
 * Behaviour beyond CPython's tests: one-at-a-time versus concurrent serving,
 * error containment, vanished peers, backpressure, timeouts, limits.
 */
import { createSocket } from 'node:dgram';
import {
  DatagramRequestHandler,
  EventLoopMixIn,
  type InetAddress,
  StreamRequestHandler,
} from '@socketserver/core';
import { describe, expect, it } from 'vitest';
import { TCPServer, UDPServer } from '../src/index.js';
import { deferred, readAll, readBytes, serve, tcpConnect, tcpExchange } from './helpers.js';

class EventLoopTCPServer extends EventLoopMixIn(TCPServer) {}

/** Records errors instead of printing them. */
function recording<T extends abstract new (...args: any[]) => TCPServer>(Base: T) {
  abstract class Recording extends Base {
    errors: Array<{ address: unknown; error: any }> = [];
    errorSeen = deferred();
    override handleError(_request: unknown, address: any, error: unknown) {
      this.errors.push({ address, error });
      this.errorSeen.resolve();
    }
  }
  return Recording;
}
class RecordingTCPServer extends recording(TCPServer) {}
class RecordingEventLoopTCPServer extends recording(EventLoopTCPServer) {}
class RecordingUDPServer extends UDPServer {
  errors: Array<{ address: unknown; error: any }> = [];
  override handleError(_request: unknown, address: any, error: unknown) {
    this.errors.push({ address, error });
  }
}

/** A handler whose first line names a gate to wait on before answering. */
class GatedHandler extends StreamRequestHandler {
  static gates = new Map<string, ReturnType<typeof deferred<void>>>();
  static started: string[] = [];
  static startedSignal = new Map<string, ReturnType<typeof deferred<void>>>();
  override async handle() {
    const name = (await this.rfile.readline()).toString().trim();
    GatedHandler.started.push(name);
    GatedHandler.startedSignal.get(name)?.resolve();
    await GatedHandler.gates.get(name)?.promise;
    await this.wfile.write(`${name} done\n`);
  }
}

function gate(name: string) {
  GatedHandler.gates.set(name, deferred());
  GatedHandler.startedSignal.set(name, deferred());
}

describe('plain versus event-loop serving', () => {
  it('the plain server is one-at-a-time: B is answered only after A finishes, and waits queued', async () => {
    GatedHandler.started = [];
    gate('A');
    gate('B');
    const server = await TCPServer.create({ host: '127.0.0.1', port: 0 }, GatedHandler);
    const running = serve(server);
    const a = await tcpConnect(server.serverAddress);
    const aReply = readAll(a);
    a.write('A\n');
    await GatedHandler.startedSignal.get('A')!.promise;
    const b = await tcpConnect(server.serverAddress);
    const bReply = readAll(b);
    b.write('B\n');
    // B's connection was accepted and waits, paused, in the queue while A is handled.
    while (server.queuedRequests < 1) await new Promise((r) => setImmediate(r));
    expect(GatedHandler.started).toEqual(['A']);
    GatedHandler.gates.get('B')!.resolve();
    GatedHandler.gates.get('A')!.resolve();
    expect((await aReply).toString()).toBe('A done\n');
    expect((await bReply).toString()).toBe('B done\n');
    expect(GatedHandler.started).toEqual(['A', 'B']);
    await running.stop();
  });

  it('the event-loop server is not: B is answered while A still waits', async () => {
    GatedHandler.started = [];
    gate('A');
    gate('B');
    const server = await EventLoopTCPServer.create({ host: '127.0.0.1', port: 0 }, GatedHandler);
    const running = serve(server);
    const a = await tcpConnect(server.serverAddress);
    const aReply = readAll(a);
    a.write('A\n');
    await GatedHandler.startedSignal.get('A')!.promise;
    const b = await tcpConnect(server.serverAddress);
    b.write('B\n');
    GatedHandler.gates.get('B')!.resolve();
    expect((await readBytes(b, 7)).toString()).toBe('B done\n');
    expect(server.activeRequests).toBeGreaterThanOrEqual(1);
    GatedHandler.gates.get('A')!.resolve();
    expect((await aReply).toString()).toBe('A done\n');
    b.destroy();
    await running.stop();
  });

  it('connections beyond requestQueueSize are closed at once and reported', async () => {
    GatedHandler.started = [];
    gate('hold');
    const server = await RecordingTCPServer.create({ host: '127.0.0.1', port: 0 }, GatedHandler, {
      requestQueueSize: 1,
    });
    const running = serve(server);
    const holder = await tcpConnect(server.serverAddress);
    const holderReply = readAll(holder);
    holder.write('hold\n');
    await GatedHandler.startedSignal.get('hold')!.promise;
    const queued = await tcpConnect(server.serverAddress);
    const queuedReply = readAll(queued);
    queued.end('q\n');
    while (server.queuedRequests < 1) await new Promise((r) => setImmediate(r));
    const refused = await tcpConnect(server.serverAddress);
    const refusedReply = readAll(refused).catch((e: NodeJS.ErrnoException) => e.code);
    await server.errorSeen.promise;
    expect(server.errors[0]!.error).toMatchObject({ code: 'ERR_SOCKETSERVER_QUEUE_FULL' });
    expect(server.refusedRequests).toBe(1);
    const refusedResult = await refusedReply;
    expect(refusedResult === 'ECONNRESET' || (refusedResult as Buffer).length === 0).toBe(true);
    GatedHandler.gates.get('hold')!.resolve();
    expect((await holderReply).toString()).toBe('hold done\n');
    expect((await queuedReply).toString()).toBe('q done\n');
    await running.stop();
  });
});

describe('errors and vanished peers (ErrorHandlerTest)', () => {
  class Thrower extends StreamRequestHandler {
    override async handle() {
      const line = (await this.rfile.readline()).toString();
      if (line.startsWith('boom')) throw new Error('handler failed on purpose');
      await this.wfile.write(line);
    }
  }

  it.each([
    ['plain', RecordingTCPServer],
    ['event loop', RecordingEventLoopTCPServer],
  ])(
    '%s: a throwing handler reaches handleError, the peer is closed, serving continues',
    async (_n, Server) => {
      const server = await Server.create({ host: '127.0.0.1', port: 0 }, Thrower);
      const running = serve(server);
      expect(await tcpExchange(server.serverAddress, 'boom\n')).toBe('');
      await server.errorSeen.promise;
      expect(server.errors[0]!.error.message).toBe('handler failed on purpose');
      expect(server.errors[0]!.address).toMatchObject({ host: '127.0.0.1' });
      expect(await tcpExchange(server.serverAddress, 'fine\n')).toBe('fine\n');
      await running.stop();
    },
  );

  it('the default handleError writes the client address and the stack to stderr', async () => {
    const server = await TCPServer.create({ host: '127.0.0.1', port: 0 }, Thrower);
    const written: string[] = [];
    const original = process.stderr.write.bind(process.stderr);
    const seen = deferred();
    process.stderr.write = ((chunk: string) => {
      written.push(String(chunk));
      seen.resolve();
      return true;
    }) as typeof process.stderr.write;
    try {
      const running = serve(server);
      await tcpExchange(server.serverAddress, 'boom\n');
      await seen.promise;
      await running.stop();
    } finally {
      process.stderr.write = original;
    }
    expect(written.join('')).toMatch(
      /^Exception occurred during processing of request from 127\.0\.0\.1:\d+\nError: handler failed on purpose\n\s+at /,
    );
  });

  it('a peer that resets mid-request does not crash the server', async () => {
    const failed = deferred<unknown>();
    class Reader extends StreamRequestHandler {
      override async handle() {
        await this.rfile.readline();
        try {
          await this.rfile.readExactly(1_000_000);
        } catch (error) {
          failed.resolve(error);
          throw error;
        }
      }
    }
    const server = await RecordingEventLoopTCPServer.create({ host: '127.0.0.1', port: 0 }, Reader);
    const running = serve(server);
    const socket = await tcpConnect(server.serverAddress);
    socket.write('start\npartial');
    socket.resetAndDestroy();
    const error = await failed.promise;
    expect((error as { code?: string }).code).toMatch(
      /ECONNRESET|ERR_SOCKETSERVER_INCOMPLETE_READ/,
    );
    expect(await tcpExchange(server.serverAddress, 'x\n')).toBe('');
    await running.stop();
  });

  it('a queued peer that resets before its turn does not stall the plain server', async () => {
    GatedHandler.started = [];
    gate('first');
    const server = await RecordingTCPServer.create({ host: '127.0.0.1', port: 0 }, GatedHandler);
    const running = serve(server);
    const first = await tcpConnect(server.serverAddress);
    const firstReply = readAll(first);
    first.write('first\n');
    await GatedHandler.startedSignal.get('first')!.promise;
    const vanishing = await tcpConnect(server.serverAddress);
    vanishing.write('gone\n');
    while (server.queuedRequests < 1) await new Promise((r) => setImmediate(r));
    vanishing.resetAndDestroy();
    GatedHandler.gates.get('first')!.resolve();
    expect((await firstReply).toString()).toBe('first done\n');
    gate('last');
    GatedHandler.gates.get('last')!.resolve();
    expect(await tcpExchange(server.serverAddress, 'last\n')).toBe('last done\n');
    await running.stop();
  });

  it('a peer that vanishes during a large write does not crash the server', async () => {
    const writing = deferred();
    const failed = deferred<unknown>();
    class Flood extends StreamRequestHandler {
      override async handle() {
        const chunk = Buffer.alloc(64 * 1024, 0x61);
        writing.resolve();
        try {
          for (let i = 0; i < 10_000; i++) await this.wfile.write(chunk);
        } catch (error) {
          failed.resolve(error);
        }
      }
    }
    const server = await TCPServer.create({ host: '127.0.0.1', port: 0 }, Flood);
    const running = serve(server);
    const socket = await tcpConnect(server.serverAddress);
    await writing.promise;
    socket.destroy();
    expect(await failed.promise).toBeInstanceOf(Error);
    class Echo extends StreamRequestHandler {
      override async handle() {
        await this.wfile.write(await this.rfile.readline());
      }
    }
    server.RequestHandlerClass = Echo;
    expect(await tcpExchange(server.serverAddress, 'still here\n')).toBe('still here\n');
    await running.stop();
  });
});

describe('StreamRequestHandler details', () => {
  it('readline(limit) stops at the limit over TCP', async () => {
    class Limited extends StreamRequestHandler {
      override async handle() {
        const first = await this.rfile.readline(5);
        const rest = await this.rfile.readline();
        await this.wfile.write(`${first.length}:${first}|${rest}`);
      }
    }
    const server = await TCPServer.create({ host: '127.0.0.1', port: 0 }, Limited);
    const running = serve(server);
    expect(await tcpExchange(server.serverAddress, 'abcdefghij\n')).toBe('5:abcde|fghij\n');
    await running.stop();
  });

  it('everything written before handle returns reaches the peer before the close', async () => {
    const size = 32 * 1024 * 1024;
    class Burst extends StreamRequestHandler {
      override handle() {
        // Not awaited on purpose: the server must still deliver every byte.
        void this.wfile.write(Buffer.alloc(size, 0x62)).catch(() => {});
      }
    }
    const server = await TCPServer.create({ host: '127.0.0.1', port: 0 }, Burst);
    const running = serve(server);
    const socket = await tcpConnect(server.serverAddress);
    const reply = await readAll(socket);
    expect(reply.length).toBe(size);
    await running.stop();
  });

  it('a slow reader does not make the server buffer without bound (write backpressure)', async () => {
    const chunk = Buffer.alloc(64 * 1024, 0x63);
    const count = 256; // 16 MiB in all
    let maxBuffered = 0;
    class Producer extends StreamRequestHandler {
      override wbufsize = 128 * 1024;
      override async handle() {
        for (let i = 0; i < count; i++) {
          await this.wfile.write(chunk);
          maxBuffered = Math.max(maxBuffered, this.wfile.bufferedLength);
        }
      }
    }
    const server = await TCPServer.create({ host: '127.0.0.1', port: 0 }, Producer);
    const running = serve(server);
    const socket = await tcpConnect(server.serverAddress);
    const reply = await readAll(socket);
    expect(reply.length).toBe(chunk.length * count);
    // Without backpressure the loop would queue all 16 MiB in user space at once.
    expect(maxBuffered).toBeLessThanOrEqual(128 * 1024 + chunk.length);
    await running.stop();
  });

  it('timeout: an idle connection fails with TimeoutError in handleError', async () => {
    class Patient extends StreamRequestHandler {
      override timeout = 50;
      override async handle() {
        await this.rfile.readline();
      }
    }
    const server = await RecordingTCPServer.create({ host: '127.0.0.1', port: 0 }, Patient);
    const running = serve(server);
    const socket = await tcpConnect(server.serverAddress);
    const closed = readAll(socket).catch(() => Buffer.alloc(0));
    await server.errorSeen.promise;
    expect(server.errors[0]!.error).toMatchObject({
      code: 'ERR_SOCKETSERVER_TIMEOUT',
      timeout: 50,
    });
    await closed;
    await running.stop();
  });

  it('a client that half-closes still gets its reply (final partial line at EOF)', async () => {
    class Upper extends StreamRequestHandler {
      override async handle() {
        for await (const line of this.rfile) await this.wfile.write(line.toString().toUpperCase());
      }
    }
    const server = await EventLoopTCPServer.create({ host: '127.0.0.1', port: 0 }, Upper);
    const running = serve(server);
    expect(await tcpExchange(server.serverAddress, 'one\ntwo\nthree')).toBe('ONE\nTWO\nTHREE');
    await running.stop();
  });

  it('disableNagleAlgorithm sets TCP_NODELAY without disturbing the exchange', async () => {
    class NoDelay extends StreamRequestHandler {
      override disableNagleAlgorithm = true;
      override async handle() {
        await this.wfile.write(await this.rfile.readline());
      }
    }
    const server = await TCPServer.create({ host: '127.0.0.1', port: 0 }, NoDelay);
    const running = serve(server);
    expect(await tcpExchange(server.serverAddress, 'fast\n')).toBe('fast\n');
    await running.stop();
  });
});

describe('handleRequest and timeout', () => {
  it('handleRequest with timeout calls handleTimeout when no client comes, else handles one', async () => {
    let timeouts = 0;
    class Timed extends TCPServer {
      override handleTimeout() {
        timeouts++;
      }
    }
    class Echo extends StreamRequestHandler {
      override async handle() {
        await this.wfile.write(await this.rfile.readline());
      }
    }
    const server = await Timed.create({ host: '127.0.0.1', port: 0 }, Echo, { timeout: 20 });
    await server.handleRequest();
    expect(timeouts).toBe(1);
    const reply = tcpExchange(server.serverAddress, 'one\n');
    server.timeout = null;
    await server.handleRequest();
    expect(await reply).toBe('one\n');
    expect(timeouts).toBe(1);
    await server.serverClose();
  });
});

describe('UDP details', () => {
  class Sizer extends DatagramRequestHandler {
    override async handle() {
      await this.wfile.write(String(this.packet.length));
    }
  }

  it('maxPacketSize truncates longer datagrams, as recvfrom does', async () => {
    const server = await UDPServer.create({ host: '127.0.0.1', port: 0 }, Sizer, {
      maxPacketSize: 100,
    });
    const running = serve(server);
    const client = createSocket('udp4');
    const reply = new Promise<string>((resolve) =>
      client.once('message', (m) => resolve(m.toString())),
    );
    client.send(Buffer.alloc(1000), server.serverAddress.port, '127.0.0.1');
    expect(await reply).toBe('100');
    client.close();
    await running.stop();
  });

  it('nothing written: nothing sent; a throwing datagram handler is reported and serving continues', async () => {
    class Picky extends DatagramRequestHandler {
      override async handle() {
        const text = this.packet.toString();
        if (text === 'silent') return;
        if (text === 'boom') throw new Error('bad datagram');
        await this.wfile.write(`got ${text}`);
      }
    }
    const server = await RecordingUDPServer.create({ host: '127.0.0.1', port: 0 }, Picky);
    const running = serve(server);
    const client = createSocket('udp4');
    const replies: string[] = [];
    const last = deferred();
    client.on('message', (m) => {
      replies.push(m.toString());
      if (m.toString() === 'got end') last.resolve();
    });
    const { port } = server.serverAddress as InetAddress;
    for (const text of ['silent', 'boom', 'end']) client.send(text, port, '127.0.0.1');
    await last.promise;
    expect(replies).toEqual(['got end']);
    expect(server.errors.map((e) => e.error.message)).toEqual(['bad datagram']);
    client.close();
    await running.stop();
  });
});
