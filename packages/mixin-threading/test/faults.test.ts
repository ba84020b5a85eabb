import { connect } from 'node:net';
import { SocketServerError, StreamRequestHandler } from '@socketserver/core';
import { TCPServer } from '@socketserver/transport-inet';
import { afterEach, describe, expect, it } from 'vitest';
import { RequestTimeLimitError } from '../src/errors.js';
import { SharedState } from '../src/shared-state.js';
import { ThreadingMixIn } from '../src/threading-mixin.js';
import {
  Crasher,
  Drain,
  EchoLine,
  Gate,
  Impatient,
  LateCrash,
  Runaway,
} from './fixtures/handlers.mjs';
import { exchange, serve } from './helpers.js';

const HOST = '127.0.0.1';

class RecordingServer extends ThreadingMixIn(TCPServer) {
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

function fixture(name: string): string {
  return new URL(`./fixtures/${name}`, import.meta.url).href;
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve));
}

describe('ThreadingMixIn faults', () => {
  it('a runaway handler is stopped by requestTimeLimit, reported, and its worker replaced', async () => {
    const server = await RecordingServer.create({ host: HOST, port: 0 }, Runaway, {
      maxThreads: 1,
      requestTimeLimit: 1_500,
    });
    cleanups.push(serve(server));
    const reply = await exchange(server.serverAddress, 'spin\n');
    expect(reply.length).toBe(0);
    expect(server.errors).toHaveLength(1);
    expect(server.errors[0]).toBeInstanceOf(RequestTimeLimitError);
    expect((server.errors[0] as SocketServerError).code).toBe('ERR_SOCKETSERVER_TIME_LIMIT');
    expect(Number((await exchange(server.serverAddress, 'id\n')).toString())).toBeGreaterThan(0);
    expect(server.activeThreads).toBe(1);
  });

  it('a worker that crashes outside the handler: its request is shut down, the worker replaced', async () => {
    const server = await RecordingServer.create({ host: HOST, port: 0 }, Crasher, {
      maxThreads: 1,
    });
    cleanups.push(serve(server));
    const first = Number((await exchange(server.serverAddress, 'id\n')).toString());
    expect(first).toBeGreaterThan(0);
    expect((await exchange(server.serverAddress, 'crash\n')).length).toBe(0);
    expect(server.errors).toHaveLength(1);
    expect((server.errors[0] as Error).message).toBe('crash outside the handler');
    const second = Number((await exchange(server.serverAddress, 'id\n')).toString());
    expect(second).toBeGreaterThan(0);
    expect(second).not.toBe(first);
  });

  it('an idle worker that crashes: handleError(null, null, error), the pool goes on', async () => {
    const requests: unknown[] = [];
    class Server extends RecordingServer {
      override handleError(request: unknown, clientAddress: unknown, error: unknown) {
        requests.push([request, clientAddress]);
        super.handleError(request, clientAddress, error);
      }
    }
    const server = await Server.create({ host: HOST, port: 0 }, LateCrash, { maxThreads: 1 });
    cleanups.push(serve(server));
    expect((await exchange(server.serverAddress, 'x\n')).toString()).toBe('ok\n');
    Atomics.store(server.state.fields.gate, 0, 1);
    await until(() => server.errors.length === 1);
    expect((server.errors[0] as Error).message).toBe('late crash');
    expect(requests).toEqual([[null, null]]);
    Atomics.store(server.state.fields.gate, 0, 0);
    expect((await exchange(server.serverAddress, 'x\n')).toString()).toBe('ok\n');
  });

  it('a handler class its module does not export: clear error at startThreads and per request, no hang', async () => {
    class Hidden extends StreamRequestHandler {
      static override moduleUrl = fixture('unexported.mjs');
    }
    const server = await RecordingServer.create({ host: HOST, port: 0 }, Hidden);
    cleanups.push(serve(server));
    const failure = server.startThreads();
    await expect(failure).rejects.toThrow(/does not export Hidden/);
    await expect(failure).rejects.toMatchObject({ code: 'ERR_SOCKETSERVER_INVALID_ARGUMENT' });
    expect((await exchange(server.serverAddress, 'x\n')).length).toBe(0);
    expect((server.errors[0] as SocketServerError).code).toBe('ERR_SOCKETSERVER_INVALID_ARGUMENT');
    await until(() => server.activeThreads === 0);
  });

  it('a handler module that starts a server when imported fails loudly, and no second server starts', async () => {
    class Starter extends StreamRequestHandler {
      static override moduleUrl = fixture('server-at-import.mjs');
    }
    const server = await RecordingServer.create({ host: HOST, port: 0 }, Starter);
    cleanups.push(serve(server));
    await expect(server.startThreads()).rejects.toMatchObject({
      code: 'ERR_SOCKETSERVER_SERVER_IN_HANDLER_HOST',
    });
    expect((await exchange(server.serverAddress, 'x\n')).length).toBe(0);
    expect((server.errors[0] as SocketServerError).code).toBe(
      'ERR_SOCKETSERVER_SERVER_IN_HANDLER_HOST',
    );
  });

  it('a module that cannot be found fails with the import error', async () => {
    class Missing extends StreamRequestHandler {
      static override moduleUrl = fixture('no-such-module.mjs');
    }
    const server = new RecordingServer({ host: HOST, port: 0 }, Missing);
    await expect(server.startThreads()).rejects.toMatchObject({ code: 'ERR_MODULE_NOT_FOUND' });
    await server.serverClose();
  });
});

describe('ThreadingMixIn: the handler sees the connection as in-process', () => {
  it('StreamRequestHandler.timeout works in the worker: the idle connection fails with ERR_SOCKETSERVER_TIMEOUT', async () => {
    const server = await RecordingServer.create({ host: HOST, port: 0 }, Impatient);
    cleanups.push(serve(server));
    const client = connect(server.serverAddress.port, HOST);
    client.on('error', () => {});
    await new Promise((resolve) => client.on('close', resolve));
    expect(server.errors).toHaveLength(1);
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
});

describe('ThreadingMixIn pool', () => {
  it('when every thread is busy, requests wait (paused) in the bounded queue, then all are served', async () => {
    const server = await RecordingServer.create({ host: HOST, port: 0 }, Gate, {
      maxThreads: 1,
      maxQueuedRequests: 1,
    });
    cleanups.push(serve(server));
    const replies = [0, 1, 2, 3].map(() => exchange(server.serverAddress, 'x\n'));
    // One running, one queued for the pool, one held by processRequest (the
    // serving loop waits for room), one still paused in the server's own queue.
    await until(
      () => Atomics.load(server.state.fields.gate, 1) === 1 && server.activeRequests === 2,
    );
    await until(() => server.queuedRequests === 1);
    expect(server.activeThreads).toBe(1);
    Atomics.store(server.state.fields.gate, 0, 1);
    Atomics.notify(server.state.fields.gate, 0);
    expect((await Promise.all(replies)).map(String)).toEqual(Array(4).fill('passed\n'));
    expect(server.errors).toEqual([]);
  });

  it('minThreads workers start with startThreads and stay; idle ones beyond it retire', async () => {
    const server = await RecordingServer.create({ host: HOST, port: 0 }, EchoLine, {
      minThreads: 1,
      maxThreads: 2,
      idleTimeout: 50,
    });
    cleanups.push(serve(server));
    await server.startThreads();
    expect(server.activeThreads).toBe(1);
    const replies = await Promise.all([
      exchange(server.serverAddress, 'a\n'),
      exchange(server.serverAddress, 'b\n'),
    ]);
    expect(replies.map(String).sort()).toEqual(['a\n', 'b\n']);
    await until(() => server.activeThreads === 1);
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

  it('blockOnClose false: serverClose returns at once, the request still completes', async () => {
    const server = await RecordingServer.create({ host: HOST, port: 0 }, Gate, {
      blockOnClose: false,
    });
    const stop = serve(server);
    const reply = exchange(server.serverAddress, 'x\n');
    await until(() => Atomics.load(server.state.fields.gate, 1) === 1);
    await stop();
    expect(server.activeThreads).toBe(1);
    Atomics.store(server.state.fields.gate, 0, 1);
    Atomics.notify(server.state.fields.gate, 0);
    expect((await reply).toString()).toBe('passed\n');
    await until(() => server.activeThreads === 0);
  });
});
