/**
 * `ThreadingMixIn`: ports of CPython's threading tests, and what the mix-in
 * adds to core's host layer (whose pool, faults, time limits, retirement and
 * connection paths are tested with both drivers in core's `test/host/`).
 */
import { connect } from 'node:net';
import { InvalidArgumentError, SocketServerError, StreamRequestHandler } from '@socketserver/core';
import { canMoveSockets, HostExitedError } from '@socketserver/core/host';
import { TCPServer, UDPServer } from '@socketserver/transport-inet';
import { afterEach, describe, expect, it } from 'vitest';
import { SharedState, ThreadingMixIn } from '../src/index.js';
import {
  BadHandler,
  Count,
  DatagramEcho,
  Describe,
  Drain,
  EchoLine,
  EchoLines,
  ExitingHandler,
  Gate,
  Impatient,
  Meet,
} from './fixtures/handlers.mjs';
import { datagram, deferred, exchange, serve } from './helpers.js';

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve));
}

const HOST = '127.0.0.1';
const TEST_STR = 'hello world\n';

class ThreadingTCPServer extends ThreadingMixIn(TCPServer) {}
class ThreadingUDPServer extends ThreadingMixIn(UDPServer) {}

/** Records what reaches handleError; shared memory for the handlers' gates. */
class RecordingServer extends ThreadingTCPServer {
  errors: unknown[] = [];
  state = new SharedState({ gate: ['int32', 2] });
  override handleError(_request: unknown, _clientAddress: unknown, error: unknown) {
    this.errors.push(error);
  }
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('ThreadingMixIn: CPython SocketServerTest', () => {
  it('test_ThreadingTCPServer: three clients echoed; serverClose releases the socket and every worker', async () => {
    const server = await ThreadingTCPServer.create({ host: HOST, port: 0 }, EchoLine);
    expect(server.serverAddress.port).toBeGreaterThan(0);
    expect(server.fileno()).toBeGreaterThanOrEqual(0);
    // The first worker started with the server, and loaded the handler.
    expect(server.activeThreads).toBe(1);
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
  class ErrorTestServer extends RecordingServer {
    called = new SharedState({ called: 'int32' });
    shutdownDone = deferred();
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
    expect(server.called.fields.called[0]).toBe(1);
    expect(server.errors).toHaveLength(1);
    const error = server.errors[0] as Error & { code?: string };
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('ValueError');
    expect(error.message).toBe('Test error');
    expect(error.code).toBe('E_TEST');
    expect(error.stack).toContain('handlers.mjs');
  });

  it('test_threading_not_handled, where Node differs: process.exit in a handler ends its whole worker, so handleError learns of it', async () => {
    const server = await runOnce(ExitingHandler);
    expect(server.called.fields.called[0]).toBe(1);
    expect(server.errors).toHaveLength(1);
    expect(server.errors[0]).toBeInstanceOf(HostExitedError);
    expect((server.errors[0] as HostExitedError).exitCode).toBe(3);
    expect(server.activeThreads).toBe(0);
  });
});

describe('ThreadingMixIn: threads', () => {
  it('test_threads_reaped: threads are reused, and none is left after serverClose', async () => {
    const server = await ThreadingTCPServer.create({ host: HOST, port: 0 }, EchoLine, {
      maxThreads: 2,
    });
    const stop = serve(server);
    for (let n = 0; n < 10; n++) {
      expect((await exchange(server.serverAddress, 'x\n')).toString()).toBe('x\n');
    }
    expect(server.activeThreads).toBeGreaterThan(0);
    expect(server.activeThreads).toBeLessThanOrEqual(2);
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

  it('a counter incremented by many concurrent requests under the Lock ends exact', async () => {
    class Server extends ThreadingTCPServer {
      state = new SharedState({ counter: 'int32', started: ['int32', 2] });
    }
    const server = await Server.create({ host: HOST, port: 0 }, Count, { maxThreads: 4 });
    cleanups.push(serve(server));
    // The handlers wait until 4 of them run, so their increments overlap
    // (without the lock this loses about half of them).
    const requests = 8;
    const times = 10_000;
    const mainTimes = 500;
    const mainSide = (async () => {
      for (let i = 0; i < mainTimes; i++) {
        await server.state.lock.withLockAsync(() => {
          const value = server.state.fields.counter[0]!;
          server.state.fields.counter[0] = value + 1;
        });
      }
    })();
    const replies = await Promise.all(
      Array.from({ length: requests }, () => exchange(server.serverAddress, `${times} 4\n`)),
    );
    await mainSide;
    expect(replies.map(String)).toEqual(Array(requests).fill('ok\n'));
    expect(server.state.fields.counter[0]).toBe(requests * times + mainTimes);
  });

  it('the same handler sees a socket-like request and the server data fields in the worker', async () => {
    class Server extends ThreadingTCPServer {
      label = 'from-main';
    }
    const server = await Server.create({ host: HOST, port: 0 }, Describe);
    cleanups.push(serve(server));
    expect(server.movesConnections).toBe(canMoveSockets());
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

  it('StreamRequestHandler.timeout works in the worker: the idle connection fails with ERR_SOCKETSERVER_TIMEOUT', async () => {
    const server = await RecordingServer.create({ host: HOST, port: 0 }, Impatient);
    cleanups.push(serve(server));
    const client = connect(server.serverAddress.port, HOST);
    client.on('error', () => {});
    await new Promise((resolve) => client.on('close', resolve));
    // A worker that owns the connection closes it before the main thread hears why.
    await until(() => server.errors.length === 1);
    expect(server.errors[0]).toBeInstanceOf(SocketServerError);
    expect((server.errors[0] as SocketServerError).code).toBe('ERR_SOCKETSERVER_TIMEOUT');
    expect((await exchange(server.serverAddress, 'next\n')).toString()).toBe('next\n');
  });

  it('a peer that resets mid-request: the request ends in the worker, serving goes on', async () => {
    const server = await RecordingServer.create({ host: HOST, port: 0 }, Drain, { maxThreads: 1 });
    cleanups.push(serve(server));
    const client = connect(server.serverAddress.port, HOST);
    client.on('error', () => {});
    client.write('some bytes');
    await until(() => Atomics.load(server.state.fields.gate, 1) === 1);
    client.resetAndDestroy();
    await until(() => server.activeRequests === 0);
    // The kernel reports the reset as ECONNRESET, or (when the read had
    // already ended) the handler's reply simply fails: never a hang.
    expect(server.errors.map((error) => (error as { code?: string }).code)).toEqual(
      server.errors.length === 0 ? [] : ['ECONNRESET'],
    );
    expect((await exchange(server.serverAddress, 'rest', { end: true })).toString()).toBe('eof\n');
  });

  it('a handler class workers cannot import is refused by the types, and by create at run time', async () => {
    class Local extends StreamRequestHandler {}
    // @ts-expect-error: Local does not say where it lives (static moduleUrl), so no worker can import it.
    const creating = ThreadingTCPServer.create({ host: HOST, port: 0 }, Local);
    await expect(creating).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(creating).rejects.toThrow('static moduleUrl = import.meta.url');
  });

  it('rejects invalid settings, and old setting names, at create', async () => {
    await expect(
      ThreadingTCPServer.create({ host: HOST, port: 0 }, EchoLine, { maxThreads: 0 }),
    ).rejects.toThrow(/maxThreads must be an integer >= 1/);
    await expect(
      ThreadingTCPServer.create({ host: HOST, port: 0 }, EchoLine, {
        maxQueuedRequests: 3,
      } as never),
    ).rejects.toThrow(/maxQueuedRequests is now maxWaitingRequests/);
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

  it('daemonThreads: serverClose does not wait for a running handler; its worker exits after it', async () => {
    const server = await RecordingServer.create({ host: HOST, port: 0 }, Gate, {
      daemonThreads: true,
    });
    const stop = serve(server);
    const client = connect(server.serverAddress.port, HOST);
    const chunks: Buffer[] = [];
    client.on('data', (chunk) => chunks.push(chunk));
    const closed = new Promise((resolve) => client.on('close', resolve));
    client.write('x\n');
    await until(() => Atomics.load(server.state.fields.gate, 1) === 1);
    await stop();
    expect(server.activeRequests).toBe(1);
    Atomics.store(server.state.fields.gate, 0, 1);
    Atomics.notify(server.state.fields.gate, 0);
    await closed;
    expect(Buffer.concat(chunks).toString()).toBe('passed\n');
    await until(() => server.activeThreads === 0);
  });

  it('a handleError that throws does not crash the process; serving goes on', async () => {
    let calls = 0;
    class Server extends ThreadingTCPServer {
      called = new SharedState({ called: 'int32' });
      override handleError(): void {
        calls++;
        throw new Error('handleError failed');
      }
    }
    const server = await Server.create({ host: HOST, port: 0 }, BadHandler);
    cleanups.push(serve(server));
    await exchange(server.serverAddress, 'x\n');
    await exchange(server.serverAddress, 'x\n');
    expect(server.called.fields.called[0]).toBe(2);
    await until(() => calls === 2);
  });
});
