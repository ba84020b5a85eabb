/**
 * ForkingMixIn over TCP and UDP: the CPython ports (test_ForkingTCPServer,
 * test_ForkingUDPServer), the child-process bookkeeping (no child left after
 * serverClose, maxChildren under a burst, a fresh process per request),
 * state isolation, and the errors for handler classes a child cannot find.
 */
import { createHash, randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import type { InetAddress } from '@socketserver/core';
import { StreamRequestHandler } from '@socketserver/core';
import { TCPServer, UDPServer } from '@socketserver/transport-inet';
import { afterEach, describe, expect, it } from 'vitest';
import { ForkingMixIn } from '../src/index.js';
import {
  Counter,
  counterHitsHere,
  DatagramBad,
  DatagramEchoLine,
  DatagramTwoReplies,
  Digest,
  EchoLine,
  PidHandler,
  Renamed,
} from './fixtures/handlers.mjs';
import {
  dgramExamine,
  ErrorLog,
  isAlive,
  LineClient,
  liveChildPids,
  sendBody,
  serve,
  streamExamine,
  TEST_STR,
} from './helpers.js';

const HOST = '127.0.0.1';

/** Python's ForkingTCPServer, with handleError recording instead of printing. */
class ForkingTCPServer extends ForkingMixIn(TCPServer) {
  readonly log = new ErrorLog();
  override handleError(_request: unknown, clientAddress: unknown, error: unknown): void {
    this.log.add(clientAddress, error);
  }
}

class ForkingUDPServer extends ForkingMixIn(UDPServer) {
  readonly log = new ErrorLog();
  override handleError(_request: unknown, clientAddress: unknown, error: unknown): void {
    this.log.add(clientAddress, error);
  }
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function started<T extends ForkingTCPServer | ForkingUDPServer>(server: T): T {
  const stop = serve(server);
  cleanups.push(stop);
  return server;
}

describe('CPython test_socketserver ports', () => {
  it('test_ForkingTCPServer: three clients echoed by children; serverClose leaves no child', async () => {
    const server = started(await ForkingTCPServer.create({ host: HOST, port: 0 }, EchoLine));
    const address = server.serverAddress as InetAddress;
    for (let i = 0; i < 3; i++) expect(await streamExamine(address)).toBe(TEST_STR);
    const pids = [...server.activeChildren];
    expect(pids.length).toBeGreaterThan(0);
    await cleanups.pop()!();
    // bpo-31151: serverClose waits until every child completed.
    expect(server.activeChildren.size).toBe(0);
    expect(server.fileno()).toBe(-1);
    for (const pid of pids) expect(isAlive(pid)).toBe(false);
    expect(server.log.errors).toEqual([]);
  });

  it('test_ForkingUDPServer: the child replies from the server socket', async () => {
    const server = started(
      await ForkingUDPServer.create({ host: HOST, port: 0 }, DatagramEchoLine),
    );
    const address = server.serverAddress as InetAddress;
    for (let i = 0; i < 3; i++) {
      const { reply, from } = await dgramExamine(address);
      expect(reply).toBe(TEST_STR);
      expect(from).toEqual({ address: HOST, port: address.port });
    }
    const pids = [...server.activeChildren];
    await cleanups.pop()!();
    expect(server.activeChildren.size).toBe(0);
    for (const pid of pids) expect(isAlive(pid)).toBe(false);
    expect(server.log.errors).toEqual([]);
  });
});

describe('datagrams', () => {
  it('serverClose lets a child finish replying through the server socket (blockOnClose)', async () => {
    const server = await ForkingUDPServer.create({ host: HOST, port: 0 }, DatagramTwoReplies);
    const stop = serve(server);
    const { createSocket } = await import('node:dgram');
    const client = createSocket('udp4');
    const replies: string[] = [];
    let wake: (() => void) | null = null;
    client.on('message', (message) => {
      replies.push(message.toString());
      wake?.();
    });
    try {
      await new Promise<void>((resolve) => client.bind(0, HOST, resolve));
      client.send('x', (server.serverAddress as InetAddress).port, HOST);
      while (replies.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      // The child is mid-request: close now.
      await stop();
      while (replies.length < 2) await new Promise<void>((resolve) => (wake = resolve));
    } finally {
      client.close();
    }
    expect(replies).toEqual(['got', 'done']);
    expect(server.activeChildren.size).toBe(0);
    expect(server.log.errors).toEqual([]);
  });

  it("a datagram handler's error reaches the parent handleError with the client address", async () => {
    const server = started(await ForkingUDPServer.create({ host: HOST, port: 0 }, DatagramBad));
    const { createSocket } = await import('node:dgram');
    const client = createSocket('udp4');
    await new Promise<void>((resolve) => client.bind(0, HOST, resolve));
    const port = client.address().port;
    try {
      client.send('one\n', (server.serverAddress as InetAddress).port, HOST);
      await server.log.waitFor(1);
    } finally {
      client.close();
    }
    const { clientAddress, error } = server.log.errors[0]!;
    expect(error).toMatchObject({ name: 'ValueError', message: 'bad packet one' });
    expect(error.stack).toContain('handlers.mjs');
    expect(clientAddress).toMatchObject({ host: HOST, port });
  });
});

describe('children', () => {
  it('reuses a child, and none is left after serverClose (checked by pid)', async () => {
    const server = started(await ForkingTCPServer.create({ host: HOST, port: 0 }, PidHandler));
    const address = server.serverAddress as InetAddress;
    const seen = new Set<number>();
    for (let i = 0; i < 3; i++) {
      const client = await LineClient.open(address);
      client.send('pid\nbye\n');
      const pid = Number(await client.line());
      expect(pid).not.toBe(process.pid);
      expect(await client.line()).toBe('bye');
      seen.add(pid);
      client.close();
    }
    // Children are reused: three requests, one at a time, need at most two (a second one
    // starts when a request comes before the first child has reported the last one done).
    expect(seen.size).toBeLessThanOrEqual(2);
    // What the server counts is what the system runs.
    const active = [...server.activeChildren].sort();
    expect(liveChildPids().sort()).toEqual(active);
    for (const pid of seen) expect(active).toContain(pid);
    await cleanups.pop()!();
    for (const pid of active) expect(isAlive(pid)).toBe(false);
    expect(liveChildPids()).toEqual([]);
  });

  it('never has more than maxChildren children alive under a burst', async () => {
    const server = started(
      await ForkingTCPServer.create({ host: HOST, port: 0 }, PidHandler, {
        maxChildren: 3,
        // Children are also replaced during the burst.
        maxRequestsPerHost: 4,
        requestQueueSize: 32,
      }),
    );
    const address = server.serverAddress as InetAddress;
    let mostAlive = 0;
    const pids = new Set<number>();
    const clients = await Promise.all(Array.from({ length: 16 }, () => LineClient.open(address)));
    await Promise.all(
      clients.map(async (client, i) => {
        client.send(`pid\n${i}\n`);
        pids.add(Number(await client.line()));
        // The child holds this connection until it reads `bye`: count the live children now.
        const alive = liveChildPids();
        mostAlive = Math.max(mostAlive, alive.length, server.activeChildren.size);
        expect(await client.line()).toBe(`ok ${i}`);
        client.send('bye\n');
        expect(await client.line()).toBe('bye');
        client.close();
      }),
    );
    expect(mostAlive).toBeGreaterThan(0);
    expect(mostAlive).toBeLessThanOrEqual(3);
    // 16 requests, 4 per child: at least 4 children took turns.
    expect(pids.size).toBeGreaterThanOrEqual(4);
    expect(server.log.errors).toEqual([]);
  });

  it('hands over connections whose bytes arrive before the child is ready: none lost or duplicated', async () => {
    const server = started(
      await ForkingTCPServer.create({ host: HOST, port: 0 }, Digest, { maxChildren: 2 }),
    );
    const { port } = server.serverAddress as InetAddress;
    const bodies = [1, 2, 3].map((seed) => randomBytes(512 * 1024 + seed));
    // Sent at once, while the children are still starting: the parent must read none of it.
    const replies = await Promise.all(bodies.map((body) => sendBody(port, body)));
    for (const [i, body] of bodies.entries()) {
      const hash = createHash('sha256').update(body).digest('hex');
      expect(replies[i]).toMatch(new RegExp(`^${body.length} ${hash} \\d+\\n$`));
    }
    expect(server.log.errors).toEqual([]);
  });

  it("maxRequestsPerHost: 1 with hostConcurrency: 1 gives each request a fresh process (Python's fork per request)", async () => {
    const server = started(
      await ForkingTCPServer.create({ host: HOST, port: 0 }, PidHandler, {
        maxRequestsPerHost: 1,
        hostConcurrency: 1,
      }),
    );
    const address = server.serverAddress as InetAddress;
    const pids: number[] = [];
    for (let i = 0; i < 4; i++) {
      const client = await LineClient.open(address);
      client.send('pid\nbye\n');
      pids.push(Number(await client.line()));
      expect(await client.line()).toBe('bye');
      client.close();
    }
    expect(new Set(pids).size).toBe(4);
    expect(pids).not.toContain(process.pid);
  });

  it('isolates state: what a child changes never reaches the parent (the seed warning)', async () => {
    class CountingServer extends ForkingTCPServer {
      hits = 0;
    }
    const server = started(
      await CountingServer.create({ host: HOST, port: 0 }, Counter, { maxChildren: 1 }),
    );
    const address = server.serverAddress as InetAddress;
    const replies: string[] = [];
    for (let i = 0; i < 3; i++) {
      const client = await LineClient.open(address);
      replies.push((await client.line())!);
      client.close();
    }
    // One child served all three: its module state and its copy of `server` count 1, 2, 3 ...
    const [pid] = replies[0]!.split(' ');
    expect(replies).toEqual([`${pid} 1 1`, `${pid} 2 2`, `${pid} 3 3`]);
    // ... while the parent's server and the parent's copy of the module never changed.
    expect(server.hits).toBe(0);
    expect(counterHitsHere()).toBe(0);
  });

  it('takes settings from create and checks them', async () => {
    await expect(
      ForkingTCPServer.create({ host: HOST, port: 0 }, EchoLine, { maxChildren: 0 }),
    ).rejects.toMatchObject({ code: 'ERR_SOCKETSERVER_INVALID_ARGUMENT' });
    const server = await ForkingTCPServer.create({ host: HOST, port: 0 }, EchoLine, {
      maxChildren: 2,
      blockOnClose: false,
    });
    expect(server.maxChildren).toBe(2);
    expect(server.blockOnClose).toBe(false);
    expect(server.timeout).toBe(300_000);
    await server.serverClose();
  });
});

describe('finding the handler', () => {
  it('refuses a handler class without moduleUrl: in the types, and at create', async () => {
    class Local extends StreamRequestHandler {}
    // @ts-expect-error: Local does not say where it lives (static moduleUrl), so no child can import it.
    await expect(ForkingTCPServer.create({ host: HOST, port: 0 }, Local)).rejects.toMatchObject({
      code: 'ERR_SOCKETSERVER_INVALID_ARGUMENT',
      message: expect.stringContaining('static moduleUrl = import.meta.url'),
    });
  });

  it('fails create when the module does not export the class by its name', async () => {
    await expect(ForkingTCPServer.create({ host: HOST, port: 0 }, Renamed)).rejects.toMatchObject({
      code: 'ERR_SOCKETSERVER_INVALID_ARGUMENT',
      message: expect.stringContaining('does not export Hidden'),
    });
  });

  it('fails create when the handler module starts a server when imported', async () => {
    class SideEffectHandler extends StreamRequestHandler {
      static override moduleUrl = new URL('./fixtures/server-at-import.mjs', import.meta.url).href;
    }
    await expect(
      ForkingTCPServer.create({ host: HOST, port: 0 }, SideEffectHandler),
    ).rejects.toMatchObject({ code: 'ERR_SOCKETSERVER_SERVER_IN_HANDLER_HOST' });
  });

  it('fails create when the module cannot be found', async () => {
    class Missing extends StreamRequestHandler {
      static override moduleUrl = pathToFileURL('/nonexistent/handlers.mjs').href;
    }
    await expect(ForkingTCPServer.create({ host: HOST, port: 0 }, Missing)).rejects.toMatchObject({
      code: 'ERR_MODULE_NOT_FOUND',
    });
    expect(liveChildPids()).toEqual([]);
  });
});
