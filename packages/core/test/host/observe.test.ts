/**
 * `stats()` and the diagnostics channels with handlers in worker threads and
 * child processes, under a small load with exact counts: the server counts
 * what its hosts did (requests completed and failed, connections refused
 * while their host prepared them, bytes the host read and wrote on a
 * connection it owned), and a connection served in a host is open for the
 * server until its request is over, whatever became of the server's copy.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { processDriver, threadDriver } from '../../src/host/index.js';
import { canMoveSockets } from '../../src/node-internals.js';
import { CHANNELS, type ConnectionCloseMessage, type RequestMessage } from '../../src/observe.js';
import type { InetAddress } from '../../src/types.js';
import { v2 } from '../proxy-headers.js';
import { DatagramEcho, LineOrFail } from './fixtures/handlers.mjs';
import {
  datagram,
  HOST,
  hosted,
  LoopbackTCPServer,
  LoopbackUDPServer,
  PathStreamServer,
  serve,
  until,
} from './helpers.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function listen() {
  const seen = {
    open: 0,
    close: [] as ConnectionCloseMessage[],
    finish: [] as RequestMessage[],
    error: 0,
  };
  const listeners: Array<[string, (message: unknown) => void]> = [
    [CHANNELS.connectionOpen, () => seen.open++],
    [CHANNELS.connectionClose, (m) => seen.close.push(m as ConnectionCloseMessage)],
    [CHANNELS.requestError, () => seen.error++],
    [CHANNELS.requestFinish, (m) => seen.finish.push(m as RequestMessage)],
  ];
  for (const [name, listener] of listeners) subscribe(name, listener);
  cleanups.push(() => {
    for (const [name, listener] of listeners) unsubscribe(name, listener);
  });
  return seen;
}

/** Sends `data`, ends, and resolves with everything received until the server closes. */
function exchange(address: InetAddress | string, data: Buffer | string): Promise<string> {
  return new Promise((resolve) => {
    const socket: Socket =
      typeof address === 'string'
        ? connect({ path: address, allowHalfOpen: true })
        : connect({ host: address.host, port: address.port, allowHalfOpen: true });
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
    });
    socket.on('error', () => {});
    socket.on('close', () => resolve(text));
    socket.end(data);
  });
}

const outcomes = (finish: RequestMessage[]) =>
  Object.fromEntries(
    ['completed', 'failed', 'rejected', 'abandoned'].map((o) => [
      o,
      finish.filter((m) => m.outcome === o).length,
    ]),
  );

for (const driver of [threadDriver, processDriver]) {
  const kind = driver.kind;
  const mode = kind === 'thread' ? 'threading' : 'forking';
  const preparedInHost = kind === 'process' || canMoveSockets();

  class TCP extends hosted(LoopbackTCPServer, driver) {}
  class Unix extends hosted(PathStreamServer, driver) {}
  class UDP extends hosted(LoopbackUDPServer, driver) {}

  describe(`${mode}: stats() and the channels`, () => {
    it('TCP: completed and failed requests, bytes the hosts read and wrote, connections ended', async () => {
      const seen = listen();
      const server = await TCP.create({ host: HOST, port: 0, family: 'IPv4' as const }, LineOrFail);
      cleanups.push(serve(server));
      const replies = await Promise.all([
        ...Array.from({ length: 6 }, (_, i) => exchange(server.serverAddress, `line ${i}\n`)),
        exchange(server.serverAddress, 'fail\n'),
        exchange(server.serverAddress, 'fail\n'),
      ]);
      expect(replies.slice(0, 6)).toEqual(Array.from({ length: 6 }, (_, i) => `line ${i}\n`));
      await until(() => seen.close.length === 8 && server.stats().active === 0);
      expect(server.stats()).toMatchObject({
        mode,
        accepted: 8,
        active: 0,
        queued: 0,
        rejected: 0,
        completed: 6,
        failed: 2,
        abandoned: 0,
        connections: 0,
        bytesIn: 6 * 7 + 2 * 5,
        bytesOut: 6 * 7,
      });
      expect(server.stats().hosts).toBeGreaterThanOrEqual(1);
      expect(seen.open).toBe(8);
      expect(seen.error).toBe(2);
      expect(outcomes(seen.finish)).toEqual({ completed: 6, failed: 2, rejected: 0, abandoned: 0 });
      expect(seen.close.reduce((sum, m) => sum + m.bytesRead, 0)).toBe(52);
      expect(seen.close.reduce((sum, m) => sum + m.bytesWritten, 0)).toBe(42);
    });

    it(`PROXY on TCP: a refused header is a rejection; a probe is ${preparedInHost ? 'abandoned in its host' : 'not counted'}`, async () => {
      const seen = listen();
      const server = await TCP.create(
        { host: HOST, port: 0, family: 'IPv4' as const },
        LineOrFail,
        { proxyProtocol: true },
      );
      cleanups.push(serve(server));
      const header = v2({ source: ['203.0.113.7', 4000] });
      expect(
        await exchange(server.serverAddress, Buffer.concat([header, Buffer.from('hi\n')])),
      ).toBe('hi\n');
      expect(await exchange(server.serverAddress, 'no header\n')).toBe('');
      await exchange(server.serverAddress, ''); // a TCP health check: connects, sends nothing
      await until(() => seen.close.length === 3 && server.stats().active === 0);
      expect(server.stats()).toMatchObject({
        accepted: 3,
        completed: 1,
        failed: 0,
        rejected: 1,
        abandoned: preparedInHost ? 1 : 0,
        connections: 0,
        bytesIn: header.length + 3 + 10,
        bytesOut: 3,
      });
      expect(server.errors).toHaveLength(1);
      // The request's clientAddress, as the server knows it: the client the header names when
      // the server read it; the balancer's when the host did (the handler alone sees the client).
      const requested = seen.finish.find((m) => m.outcome === 'completed')?.clientAddress;
      expect((requested as InetAddress).host).toBe(preparedInHost ? HOST : '203.0.113.7');
    });

    it(`Unix stream (${kind === 'thread' ? 'bridged' : 'handed to the child'}): bytes and connections`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'ss-observe-'));
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      const seen = listen();
      const server = await Unix.create(join(dir, 's.sock'), LineOrFail);
      cleanups.push(serve(server));
      for (let i = 0; i < 3; i++)
        expect(await exchange(server.serverAddress, `u${i}\n`)).toBe(`u${i}\n`);
      await until(() => seen.close.length === 3 && server.stats().active === 0);
      expect(server.stats()).toMatchObject({
        accepted: 3,
        completed: 3,
        connections: 0,
        bytesIn: 9,
        bytesOut: 9,
      });
    });

    it('UDP: datagrams and replies (sent from the server socket)', async () => {
      const server = await UDP.create(
        { host: HOST, port: 0, family: 'IPv4' as const },
        DatagramEcho,
      );
      cleanups.push(serve(server));
      let out = 0;
      for (const word of ['a', 'bb', 'ccc']) {
        const reply = await datagram(server.serverAddress, word);
        expect(reply.startsWith(`${word} `)).toBe(true);
        out += Buffer.byteLength(reply);
      }
      await until(() => server.stats().active === 0);
      expect(server.stats()).toMatchObject({
        mode,
        accepted: 3,
        completed: 3,
        bytesIn: 6,
        bytesOut: out,
      });
    });
  });
}
