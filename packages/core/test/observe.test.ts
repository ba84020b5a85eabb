/**
 * `server.stats()` and the diagnostics channels under a small load, with
 * exact counts: connections and datagrams accepted, requests completed,
 * failed and rejected (queue full, verifyRequest, PROXY header), bytes in
 * and out, what is active and queued while handlers wait, and one open and
 * close message per connection, one start and finish per request.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DatagramRequestHandler } from '../src/datagram-request-handler.js';
import { EventLoopMixIn } from '../src/event-loop-mixin.js';
import {
  CHANNELS,
  type ConnectionCloseMessage,
  type ConnectionMessage,
  type RequestMessage,
} from '../src/observe.js';
import { StreamRequestHandler } from '../src/stream-request-handler.js';
import type { InetAddress } from '../src/types.js';
import { datagram, LoopbackUDPServer, until } from './host/helpers.js';
import { dial, LoopbackServer, received } from './loopback-server.js';
import { v2 } from './proxy-headers.js';

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

/** Everything published on the five channels while the test runs. */
function listen() {
  const seen = {
    open: [] as ConnectionMessage[],
    close: [] as ConnectionCloseMessage[],
    start: [] as RequestMessage[],
    error: [] as RequestMessage[],
    finish: [] as RequestMessage[],
  };
  const listeners: Array<[string, (message: unknown) => void]> = [
    [CHANNELS.connectionOpen, (m) => seen.open.push(m as ConnectionMessage)],
    [CHANNELS.connectionClose, (m) => seen.close.push(m as ConnectionCloseMessage)],
    [CHANNELS.requestStart, (m) => seen.start.push(m as RequestMessage)],
    [CHANNELS.requestError, (m) => seen.error.push(m as RequestMessage)],
    [CHANNELS.requestFinish, (m) => seen.finish.push(m as RequestMessage)],
  ];
  for (const [name, listener] of listeners) subscribe(name, listener);
  cleanup.push(() => {
    for (const [name, listener] of listeners) unsubscribe(name, listener);
  });
  return seen;
}

/** Echoes one line; `fail` throws; `wait` waits until the test opens the gate. */
class LineHandler extends StreamRequestHandler<InetAddress> {
  static gate: Promise<void> = Promise.resolve();
  override async handle() {
    const line = (await this.rfile.readline()).toString();
    if (line === 'fail\n') throw new Error('failed on purpose');
    if (line === 'wait\n') await LineHandler.gate;
    await this.wfile.write(line);
  }
}

class EventLoopServer extends EventLoopMixIn(LoopbackServer) {
  /** Connections from 127.0.0.9 are refused by verifyRequest. */
  override verifyRequest(_request: Socket, clientAddress: InetAddress): boolean {
    return clientAddress.host !== '127.0.0.9';
  }
}

async function start<S extends LoopbackServer>(server: S): Promise<S> {
  const loop = server.serveForever({ pollInterval: 20 });
  cleanup.push(async () => {
    await server.shutdown();
    await loop;
    await server.serverClose();
  });
  return server;
}

async function exchange(server: LoopbackServer, line: string, from?: string): Promise<string> {
  const socket = await dial(server.serverAddress, from);
  const reply = received(socket);
  socket.end(line);
  return reply;
}

describe('stats() and the channels', () => {
  it('event loop, TCP: exact counts for completed, failed and refused connections', async () => {
    const seen = listen();
    const server = await start(await EventLoopServer.create(null, LineHandler));
    expect(server.stats()).toMatchObject({ mode: 'eventloop', accepted: 0, connections: 0 });
    const replies = await Promise.all([
      ...Array.from({ length: 10 }, () => exchange(server, 'hello\n')),
      ...Array.from({ length: 3 }, () => exchange(server, 'fail\n')),
      ...Array.from({ length: 2 }, () => exchange(server, '', '127.0.0.9')),
    ]);
    expect(replies.filter((reply) => reply === 'hello\n')).toHaveLength(10);
    await until(() => seen.close.length === 15 && server.stats().active === 0);
    expect(server.stats()).toEqual({
      mode: 'eventloop',
      accepted: 15,
      active: 0,
      queued: 0,
      rejected: 2,
      completed: 10,
      failed: 3,
      abandoned: 0,
      connections: 0,
      bytesIn: 10 * 6 + 3 * 5,
      bytesOut: 10 * 6,
    });
    expect(server.errors).toHaveLength(3);
    expect(seen.open).toHaveLength(15);
    expect(seen.open.every((m) => m.server === server)).toBe(true);
    expect(new Set(seen.close.map((m) => m.socket))).toEqual(
      new Set(seen.open.map((m) => m.socket)),
    );
    expect(seen.close.reduce((sum, m) => sum + m.bytesRead, 0)).toBe(75);
    expect(seen.close.reduce((sum, m) => sum + m.bytesWritten, 0)).toBe(60);
    expect(seen.start).toHaveLength(13);
    expect(seen.error).toHaveLength(3);
    expect(seen.error.every((m) => (m.error as Error).message === 'failed on purpose')).toBe(true);
    expect(seen.finish).toHaveLength(13);
    const outcomes = seen.finish.map((m) => m.outcome);
    expect(outcomes.filter((o) => o === 'completed')).toHaveLength(10);
    expect(outcomes.filter((o) => o === 'failed')).toHaveLength(3);
    // The same object from start to finish, with a duration.
    expect(new Set(seen.finish)).toEqual(new Set(seen.start));
    for (const m of seen.finish) expect(m.duration).toBeGreaterThanOrEqual(0);
  });

  it('plain server: active and queued while the handler waits, then a full queue refuses', async () => {
    let open!: () => void;
    LineHandler.gate = new Promise((resolve) => {
      open = resolve;
    });
    cleanup.push(() => open());
    const server = await start(
      await LoopbackServer.create(null, LineHandler, { requestQueueSize: 1 }),
    );
    const first = exchange(server, 'wait\n');
    await until(() => server.stats().active === 1);
    const second = exchange(server, 'hello\n');
    await until(() => server.stats().queued === 1);
    const third = await exchange(server, 'hello\n');
    expect(third).toBe(''); // refused: the queue is full
    expect(server.stats()).toMatchObject({
      mode: 'sync',
      accepted: 3,
      active: 1,
      queued: 1,
      rejected: 1,
      completed: 0,
    });
    open();
    expect(await first).toBe('wait\n');
    expect(await second).toBe('hello\n');
    await until(() => server.stats().connections === 0);
    expect(server.stats()).toMatchObject({
      accepted: 3,
      active: 0,
      queued: 0,
      rejected: 1,
      completed: 2,
      failed: 0,
      bytesIn: 5 + 6, // the refused connection was closed before a byte of it was read
      bytesOut: 5 + 6,
    });
  });

  it('PROXY protocol: a refused header is a rejection, a silent probe is not counted', async () => {
    const seen = listen();
    const server = await start(
      await EventLoopServer.create(null, LineHandler, { proxyProtocol: true }),
    );
    const header = v2({ source: ['203.0.113.7', 4000] });
    const socket = await dial(server.serverAddress);
    const reply = received(socket);
    socket.end(Buffer.concat([header, Buffer.from('hello\n')]));
    expect(await reply).toBe('hello\n');
    expect(await exchange(server, 'not a header\n')).toBe('');
    (await dial(server.serverAddress)).end(); // a TCP health check
    await until(() => seen.close.length === 3 && server.stats().active === 0);
    expect(server.stats()).toMatchObject({
      accepted: 3,
      rejected: 1,
      completed: 1,
      failed: 0,
      abandoned: 0,
      bytesIn: header.length + 6 + 13,
      bytesOut: 6,
    });
    // The request's clientAddress is the client the header names; the connection's peer is the balancer.
    expect(seen.start.map((m) => m.clientAddress)).toEqual([
      { host: '203.0.113.7', port: 4000, family: 'IPv4' },
    ]);
    expect(seen.open.map((m) => (m.peer as InetAddress).host)).toEqual([
      '127.0.0.1',
      '127.0.0.1',
      '127.0.0.1',
    ]);
  });

  it('event loop, UDP: datagrams accepted and answered, bytes both ways', async () => {
    const seen = listen();
    class Upper extends DatagramRequestHandler<InetAddress> {
      override async handle() {
        await this.wfile.write(this.packet.toString().toUpperCase());
      }
    }
    class UDP extends EventLoopMixIn(LoopbackUDPServer) {}
    const server = await UDP.create({ host: '127.0.0.1', port: 0, family: 'IPv4' }, Upper);
    const loop = server.serveForever({ pollInterval: 20 });
    cleanup.push(async () => {
      await server.shutdown();
      await loop;
      await server.serverClose();
    });
    for (const word of ['one', 'two', 'three']) {
      expect(await datagram(server.serverAddress, word)).toBe(word.toUpperCase());
    }
    await until(() => server.stats().active === 0);
    expect(server.stats()).toEqual({
      mode: 'eventloop',
      accepted: 3,
      active: 0,
      queued: 0,
      rejected: 0,
      completed: 3,
      failed: 0,
      abandoned: 0,
      connections: 0,
      bytesIn: 11,
      bytesOut: 11,
    });
    expect(seen.open).toHaveLength(0);
    expect(seen.finish.map((m) => m.outcome)).toEqual(['completed', 'completed', 'completed']);
  });
});
