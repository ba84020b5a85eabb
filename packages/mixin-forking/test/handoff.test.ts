/**
 * forkHandoff: the seed's "finish processing in a forked child depending on
 * the request data", from handle() of a plain and an event-loop server.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { InetAddress } from '@socketserver/core';
import { EventLoopMixIn, StreamRequestHandler } from '@socketserver/core';
import { TCPServer } from '@socketserver/transport-inet';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ChildPool, ForkingMixIn, forkHandoff, type HandoffResult } from '../src/index.js';
import { DigestRouter, Finisher, Router } from './fixtures/handoff.mjs';
import { ErrorLog, isAlive, LineClient, sendBody, serve } from './helpers.js';

const HOST = '127.0.0.1';
// One pool for the file: children are reused from test to test.
const pool = new ChildPool({ maxChildren: 2 });
afterAll(async () => {
  const pids = [...pool.activeChildren];
  await pool.close();
  for (const pid of pids) expect(isAlive(pid)).toBe(false);
});

/** Fields the Router fixture uses: the pool, and where to record what it did. */
class RouterServer extends TCPServer {
  handoffPool = pool;
  handoffs: HandoffResult[] = [];
  bufferedAtHandoff: number[] = [];
  readonly log = new ErrorLog();
  override handleError(_request: unknown, clientAddress: unknown, error: unknown): void {
    this.log.add(clientAddress, error);
  }
}
class EventLoopRouterServer extends EventLoopMixIn(RouterServer) {}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function router(Server: typeof RouterServer = RouterServer): Promise<RouterServer> {
  const server = await Server.create({ host: HOST, port: 0 }, Router);
  cleanups.push(serve(server));
  return server;
}

describe('forkHandoff', () => {
  it('delivers the bytes the parent already read to the child, then the rest', async () => {
    const server = await router();
    const client = await LineClient.open(server.serverAddress as InetAddress);
    // One write: the parent's rfile reads all of it while looking for the first line.
    client.send('fork one\nsecond\nthird\n');
    expect(await client.line()).toBe(`parent ${process.pid}`);
    // Then more, after the hand-off.
    client.send('late\nend\n');
    const reply = (await client.line())!;
    const [, pid, data, lines] = reply.match(/^child (\d+) (\{.*\}) (\[.*\])$/)!;
    expect(Number(pid)).not.toBe(process.pid);
    expect(pool.activeChildren.has(Number(pid))).toBe(true);
    expect(JSON.parse(data!)).toEqual({ route: 'fork one' });
    // The replayed line, the bytes the parent had buffered, the bytes sent later: in order, once.
    expect(JSON.parse(lines!)).toEqual(['fork one', 'second', 'third', 'late', 'end']);
    expect(server.bufferedAtHandoff[0]).toBe('second\nthird\n'.length);
    expect(await client.line()).toBe(null);
    client.close();
    const [result] = server.handoffs;
    expect(result!.pid).toBe(Number(pid));
    expect(await result!.done).toBe(null);
    expect(server.log.errors).toEqual([]);
  });

  it('hands over a large upload mid-stream: every byte once, in order', async () => {
    const server = await RouterServer.create({ host: HOST, port: 0 }, DigestRouter);
    cleanups.push(serve(server));
    const body = Buffer.concat([Buffer.from('upload\n'), randomBytes(2 * 1024 * 1024)]);
    const reply = await sendBody((server.serverAddress as InetAddress).port, body);
    const hash = createHash('sha256').update(body).digest('hex');
    const [length, digest, pid] = reply.trim().split(' ');
    expect(Number(length)).toBe(body.length);
    expect(digest).toBe(hash);
    expect(Number(pid)).not.toBe(process.pid);
    // The parent had read past the first line: those bytes travelled with the connection.
    expect(server.bufferedAtHandoff[0]).toBeGreaterThan(0);
    expect(server.log.errors).toEqual([]);
  });

  it('works from an event-loop server, several connections at once; others stay in the parent', async () => {
    const server = await router(EventLoopRouterServer);
    const address = server.serverAddress as InetAddress;
    const clients = await Promise.all([0, 1, 2].map(() => LineClient.open(address)));
    cleanups.push(async () => {
      for (const client of clients) client.close();
    });
    clients[0]!.send('fork a\nx\nend\n');
    clients[1]!.send('stay\n');
    clients[2]!.send('fork b\ny\nend\n');
    expect(await clients[1]!.line()).toBe(`kept ${process.pid}`);
    for (const [i, route, extra] of [
      [0, 'fork a', 'x'],
      [2, 'fork b', 'y'],
    ] as const) {
      expect(await clients[i]!.line()).toBe(`parent ${process.pid}`);
      const reply = (await clients[i]!.line())!;
      expect(reply).toMatch(/^child \d+ /);
      expect(reply).toContain(JSON.stringify([route, extra, 'end']));
      expect(await clients[i]!.line()).toBe(null);
    }
    await Promise.all(server.handoffs.map((result) => result.done));
    expect(server.log.errors).toEqual([]);
  });

  it('works from a ForkingMixIn child too: the child hands over to a child of its own', async () => {
    class ForkingRouterServer extends ForkingMixIn(TCPServer) {
      handoffs: unknown[] = [];
      bufferedAtHandoff: number[] = [];
      readonly log = new ErrorLog();
      override handleError(_request: unknown, clientAddress: unknown, error: unknown): void {
        this.log.add(clientAddress, error);
      }
    }
    const server = await ForkingRouterServer.create({ host: HOST, port: 0 }, Router);
    const stop = serve(server);
    const client = await LineClient.open(server.serverAddress as InetAddress);
    client.send('fork nested\nz\nend\n');
    const parent = Number((await client.line())!.split(' ')[1]);
    const reply = (await client.line())!;
    const grandchild = Number(reply.split(' ')[1]);
    expect(reply).toContain(JSON.stringify(['fork nested', 'z', 'end']));
    expect(server.activeChildren.has(parent)).toBe(true);
    expect(new Set([process.pid, parent, grandchild]).size).toBe(3);
    expect(await client.line()).toBe(null);
    client.close();
    await stop();
    expect(isAlive(parent)).toBe(false);
    // The grandchild exits when its parent (the child) is gone; it is not ours to wait for.
    const deadline = Date.now() + 10_000;
    while (isAlive(grandchild) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(isAlive(grandchild)).toBe(false);
    expect(server.log.errors).toEqual([]);
  });

  it('reports a child error to the server handleError through done', async () => {
    const server = await router();
    const client = await LineClient.open(server.serverAddress as InetAddress);
    client.send('fork boom\n');
    expect(await client.line()).toBe(`parent ${process.pid}`);
    // Once the child owns the connection (forkHandoff resolved), the peer resets it while the
    // child's handler reads to end of stream.
    while (server.handoffs.length === 0) await new Promise((resolve) => setTimeout(resolve, 2));
    client.socket.resetAndDestroy();
    const error = await server.handoffs[0]!.done;
    await server.log.waitFor(1);
    expect(server.log.errors[0]!.error).toBe(error);
    expect(error).not.toBe(null);
  });

  it('refuses misuse with clear errors', async () => {
    const local = { request: {}, clientAddress: '', server: {} };
    await expect(forkHandoff(local, { handler: Finisher, pool })).rejects.toMatchObject({
      code: 'ERR_SOCKETSERVER_INVALID_ARGUMENT',
    });
    class NoUrl extends StreamRequestHandler {}
    const server = await router();
    const errors: unknown[] = [];
    class Probe extends StreamRequestHandler {
      static override moduleUrl = import.meta.url;
      override async handle() {
        // JavaScript callers can pass what the types refuse: they get a clear error too.
        for (const options of [{ handler: NoUrl }, { handler: Finisher, data: { big: 1n } }]) {
          await forkHandoff(this, { pool, ...(options as { handler: typeof Finisher }) }).catch(
            (error) => errors.push(error),
          );
        }
        await this.wfile.write('still mine\n');
      }
    }
    server.RequestHandlerClass = Probe;
    const client = await LineClient.open(server.serverAddress as InetAddress);
    expect(await client.line()).toBe('still mine');
    client.close();
    expect(errors).toMatchObject([
      { code: 'ERR_SOCKETSERVER_INVALID_ARGUMENT', message: expect.stringContaining('moduleUrl') },
      { code: 'ERR_SOCKETSERVER_INVALID_ARGUMENT', message: expect.stringContaining('JSON') },
    ]);
  });
});
