/**
 * The host layer with both drivers (worker threads, child processes): every
 * behaviour here is written once in `src/host/` and must hold for both.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SocketServerError } from '../../src/errors.js';
import {
  HostExitedError,
  processDriver,
  RequestTimeLimitError,
  threadDriver,
} from '../../src/host/index.js';
import type { InetAddress } from '../../src/types.js';
import {
  type CustomError,
  DatagramEcho,
  Echo,
  Fails,
  PlainEcho,
  Probe,
} from './fixtures/handlers.mjs';
import {
  datagram,
  HOST,
  hosted,
  isAlive,
  LineClient,
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

const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url).href;

for (const driver of [threadDriver, processDriver]) {
  const kind = driver.kind;
  class TCP extends hosted(LoopbackTCPServer, driver) {}
  class UDP extends hosted(LoopbackUDPServer, driver) {}
  class Unix extends hosted(PathStreamServer, driver) {}

  async function tcp(Handler: typeof Probe, settings: Record<string, unknown> = {}) {
    const server = await TCP.create(
      { host: HOST, port: 0, family: 'IPv4' as const },
      Handler,
      settings,
    );
    cleanups.push(serve(server));
    return server;
  }

  async function where(address: InetAddress | string, client?: LineClient) {
    const line = client ?? (await LineClient.open(address));
    const info = JSON.parse((await line.ask('where\n'))!);
    if (client === undefined) line.close();
    return info as { pid: number; threadId: number; request: string } & Record<string, unknown>;
  }

  describe(`hosts (${kind})`, () => {
    it('echo over TCP, UDP and a Unix stream socket; serverClose leaves no host', async () => {
      const server = await TCP.create({ host: HOST, port: 0, family: 'IPv4' as const }, Probe);
      const stop = serve(server);
      const client = await LineClient.open(server.serverAddress);
      expect(await client.ask('hello\n')).toMatch(/^hello \d+\/\d+$/);
      client.close();
      const hosts = [...server.hostIdsForTest()];
      await stop();
      expect(server.activeRequests).toBe(0);
      if (kind === 'process') for (const pid of hosts) expect(isAlive(pid)).toBe(false);

      const udp = await UDP.create({ host: HOST, port: 0, family: 'IPv4' as const }, DatagramEcho);
      const stopUdp = serve(udp);
      expect(await datagram(udp.serverAddress, 'ping')).toMatch(/^ping \d+\/\d+\n$/);
      await stopUdp();

      const dir = await mkdtemp(join(tmpdir(), 'sshost-'));
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      const unix = await Unix.create(join(dir, 's.sock'), Probe);
      cleanups.push(serve(unix));
      const info = await where(unix.serverAddress);
      expect(info.request).toBe(kind === 'thread' ? 'BridgedSocket' : 'Socket');
    });

    it('one host serves many requests at once on its event loop (maxHosts 1)', async () => {
      const server = await tcp(Probe, { maxHosts: 1 });
      const clients = await Promise.all(
        Array.from({ length: 20 }, () => LineClient.open(server.serverAddress)),
      );
      // Every connection stays open and is answered: none waits for another to end.
      const replies = await Promise.all(clients.map((client, i) => client.ask(`c${i}\n`)));
      const hosts = new Set(replies.map((reply) => reply!.split(' ')[1]));
      expect(hosts.size).toBe(1);
      expect(server.activeRequests).toBe(20);
      for (const client of clients) client.close();
    });

    it("hostConcurrency 1 is Python's model: a second connection waits until the first ends", async () => {
      const server = await tcp(Probe, { maxHosts: 1, hostConcurrency: 1 });
      const first = await LineClient.open(server.serverAddress);
      expect(await first.ask('one\n')).toMatch(/^one /);
      const second = await LineClient.open(server.serverAddress);
      second.send('two\n');
      await until(() => server.waitingRequests === 1);
      expect(server.activeRequests).toBe(2);
      first.close();
      expect(await second.line()).toMatch(/^two /);
      second.close();
    });

    it('1,000 connections through a pool of two hosts, all open at once, all answered', async () => {
      const server = await tcp(Echo, { maxHosts: 2 });
      const clients: LineClient[] = [];
      for (let i = 0; i < 1000; i++) clients.push(await LineClient.open(server.serverAddress));
      const replies = await Promise.all(clients.map((client, i) => client.ask(`line ${i}\n`)));
      expect(replies).toEqual(clients.map((_, i) => `line ${i}`));
      expect(server.activeRequests).toBe(1000);
      expect(server.hostIdsForTest().size).toBe(2);
      for (const client of clients) client.close();
      await Promise.all(clients.map((client) => client.closed));
      await until(() => server.activeRequests === 0);
    });

    it('a CPU-heavy request holds its own host; requests on the other host keep being answered', async () => {
      const server = await tcp(Probe, { maxHosts: 2 });
      const heavy = await LineClient.open(server.serverAddress);
      const heavyHost = (await heavy.ask('id\n'))!.split(' ')[1];
      const light = await LineClient.open(server.serverAddress);
      const lightHost = (await light.ask('id\n'))!.split(' ')[1];
      expect(lightHost).not.toBe(heavyHost);
      heavy.send('burn 4000\n');
      const order: string[] = [];
      const burnt = heavy.line().then(() => order.push('heavy'));
      for (let i = 0; i < 20; i++)
        expect(await light.ask(`ping ${i}\n`)).toBe(`ping ${i} ${lightHost}`);
      order.push('light');
      await burnt;
      expect(order).toEqual(['light', 'heavy']);
      heavy.close();
      light.close();
    });

    it('errors keep their class, code, message, stack, cause and fields across the boundary', async () => {
      const server = await tcp(Fails as never);
      const client = await LineClient.open(server.serverAddress);
      await client.closed;
      await until(() => server.errors.length === 1);
      const error = server.errors[0] as CustomError & { cause: Error };
      expect(error).toBeInstanceOf(TypeError);
      expect(error.name).toBe('CustomError');
      expect(error.message).toBe('it failed');
      expect(error.code).toBe('E_CUSTOM');
      expect(error.detail).toEqual({ attempt: 3 });
      expect(error.stack).toContain('handlers.mjs');
      expect(error.cause).toBeInstanceOf(RangeError);
      expect(error.cause.message).toBe('out of range');
    });

    it('a host that dies fails only its own requests, with the reason; the pool goes on', async () => {
      const server = await tcp(Probe, { maxHosts: 2 });
      const victim = await LineClient.open(server.serverAddress);
      const victimHost = (await victim.ask('id\n'))!.split(' ')[1];
      const other = await LineClient.open(server.serverAddress);
      const otherHost = (await other.ask('id\n'))!.split(' ')[1];
      expect(otherHost).not.toBe(victimHost);
      victim.send('crash\n');
      await victim.closed;
      await until(() => server.errors.length === 1);
      const error = server.errors[0] as HostExitedError;
      expect(error).toBeInstanceOf(HostExitedError);
      expect(error.code).toBe('ERR_SOCKETSERVER_HOST_EXITED');
      expect(error.hostKind).toBe(kind);
      expect(error.message).toContain(`while handling the request from ${HOST}:`);
      expect((error.cause as Error).message).toBe('crash outside the handler');
      expect(server.errorAddresses[0]).toMatchObject({ host: HOST });
      expect(await other.ask('still here\n')).toBe(`still here ${otherHost}`);
      // A new host takes new requests.
      const next = await LineClient.open(server.serverAddress);
      expect(await next.ask('next\n')).toMatch(/^next /);
      for (const client of [other, next]) client.close();
    });

    it('process.exit() in a handler ends its host: its requests go to handleError as HostExitedError', async () => {
      const server = await tcp(Probe, { maxHosts: 1 });
      const client = await LineClient.open(server.serverAddress);
      await client.ask('id\n');
      client.send('exit\n');
      await client.closed;
      await until(() => server.errors.length === 1);
      expect(server.errors[0]).toBeInstanceOf(HostExitedError);
      expect((server.errors[0] as HostExitedError).exitCode).toBe(3);
    });

    it('requestTimeLimit: an I/O-bound request is cut and its host goes on; a CPU-bound one gets its host replaced', async () => {
      const server = await tcp(Probe, { maxHosts: 1, requestTimeLimit: 500 });
      const neighbour = await LineClient.open(server.serverAddress);
      const host = (await neighbour.ask('id\n'))!.split(' ')[1];
      const hanging = await LineClient.open(server.serverAddress);
      expect(await hanging.ask('hang\n')).toBe('hanging');
      await hanging.closed;
      await until(() => server.errors.length >= 1);
      expect(server.errors[0]).toBeInstanceOf(RequestTimeLimitError);
      expect((server.errors[0] as SocketServerError).code).toBe('ERR_SOCKETSERVER_TIME_LIMIT');
      neighbour.close();
      // Same host still serving: the hanging request let go when told.
      const after = await LineClient.open(server.serverAddress);
      expect((await after.ask('id\n'))!.split(' ')[1]).toBe(host);
      after.send('spin\n');
      expect(await after.line()).toBe('spinning');
      await after.closed;
      await until(() => server.errors.length >= 2);
      expect(server.errors[1]).toBeInstanceOf(RequestTimeLimitError);
      const replaced = await LineClient.open(server.serverAddress);
      expect((await replaced.ask('id\n'))!.split(' ')[1]).not.toBe(host);
      replaced.close();
    });

    it('maxRequestsPerHost: a host that served its share is replaced', async () => {
      const server = await tcp(Probe, { maxHosts: 1, maxRequestsPerHost: 2 });
      const hosts: string[] = [];
      for (let i = 0; i < 4; i++) {
        const client = await LineClient.open(server.serverAddress);
        hosts.push((await client.ask('id\n'))!.split(' ')[1]!);
        client.close();
        await client.closed;
      }
      expect(hosts[0]).toBe(hosts[1]);
      expect(hosts[2]).toBe(hosts[3]);
      expect(hosts[2]).not.toBe(hosts[0]);
    });

    it('when every host is full, requests wait (bounded); then all are served', async () => {
      const server = await tcp(Probe, {
        maxHosts: 1,
        hostConcurrency: 1,
        maxWaitingRequests: 1,
      });
      const first = await LineClient.open(server.serverAddress);
      await first.ask('id\n');
      const others = await Promise.all([0, 1, 2].map(() => LineClient.open(server.serverAddress)));
      for (const [i, client] of others.entries()) client.send(`w${i}\n`);
      // One waits in the pool, one is held by processRequest (the serving loop
      // waits for room), one stays paused in the server's own queue.
      await until(() => server.waitingRequests === 1 && server.queuedRequests === 1);
      first.close();
      for (const [i, client] of others.entries()) {
        expect(await client.line()).toMatch(new RegExp(`^w${i} `));
        client.close();
      }
      expect(server.errors).toEqual([]);
    });

    it('hostIdleTimeout retires idle hosts but keeps the first one', async () => {
      const server = await tcp(Probe, { maxHosts: 2, hostIdleTimeout: 50 });
      const a = await LineClient.open(server.serverAddress);
      const b = await LineClient.open(server.serverAddress);
      await Promise.all([a.ask('1\n'), b.ask('2\n')]);
      expect(server.hostIdsForTest().size).toBe(2);
      a.close();
      b.close();
      await until(() => server.hostIdsForTest().size === 1);
      const c = await LineClient.open(server.serverAddress);
      expect(await c.ask('3\n')).toMatch(/^3 /);
      c.close();
    });

    it('a handler that cannot be loaded fails create with the reason, and leaves no host', async () => {
      const cases: Array<[string, string, RegExp | string]> = [
        ['unexported.mjs', 'Hidden', /does not export Hidden/],
        ['starts-server.mjs', 'Starter', 'ERR_SOCKETSERVER_SERVER_IN_HANDLER_HOST'],
        ['no-such-module.mjs', 'Missing', 'ERR_MODULE_NOT_FOUND'],
      ];
      for (const [file, name, expected] of cases) {
        const Handler = { [name]: class extends Echo {} }[name]!;
        Object.defineProperty(Handler, 'moduleUrl', { value: fixture(file) });
        const creating = TCP.create({ host: HOST, port: 0, family: 'IPv4' as const }, Handler);
        if (typeof expected === 'string')
          await expect(creating).rejects.toMatchObject({ code: expected });
        else await expect(creating).rejects.toThrow(expected);
      }
    });

    it('shutdown closes idle connections held by hosts at once; a request in progress finishes', async () => {
      const server = await TCP.create({ host: HOST, port: 0, family: 'IPv4' as const }, Echo);
      const stop = serve(server);
      const idle = await Promise.all([0, 1, 2].map(() => LineClient.open(server.serverAddress)));
      for (const client of idle) expect(await client.ask('x\n')).toBe('x');
      const busy = await LineClient.open(server.serverAddress);
      // A two-line request, half done: the handler is in the middle of it.
      expect(await busy.ask('begin\n')).toBe('begun');
      const started = Date.now();
      const stopping = stop();
      await Promise.all(idle.map((client) => client.closed));
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(await busy.ask('the rest\n')).toBe('the rest');
      // Then it is idle, and closes.
      await busy.closed;
      await stopping;
    });

    it('blockOnClose false: serverClose returns at once; the request still completes', async () => {
      const server = await TCP.create({ host: HOST, port: 0, family: 'IPv4' as const }, PlainEcho, {
        blockOnClose: false,
      });
      const stop = serve(server);
      const client = await LineClient.open(server.serverAddress);
      expect(await client.ask('before\n')).toBe('before');
      await stop();
      expect(await client.ask('after\n')).toBe('after');
      client.close();
      await client.closed;
    });

    it("an idle host's uncaught error goes to handleError(null, null, error)", async () => {
      const server = await tcp(Probe, { maxHosts: 1 });
      const client = await LineClient.open(server.serverAddress);
      // The crash comes after the reply: by then the host holds no request.
      client.send('id\n');
      await client.line();
      client.close();
      await client.closed;
      await until(() => server.activeRequests === 0);
      const second = await LineClient.open(server.serverAddress);
      second.send('crash\n');
      await second.closed;
      await until(() => server.errors.length === 1);
      expect(server.errors[0]).toBeInstanceOf(HostExitedError);
    });

    it('the handler sees the server snapshot; request preparers run in the host before it', async () => {
      const { fromHeader } = await import('./fixtures/prepare.mjs');
      class Prepared extends TCP {
        label = 'from-main';
        override requestPreparers() {
          return [fromHeader];
        }
      }
      const server = await Prepared.create({ host: HOST, port: 0, family: 'IPv4' as const }, Probe);
      cleanups.push(serve(server));
      const client = await LineClient.open(server.serverAddress);
      client.send('PROXY 203.0.113.7 4711\n');
      const info = await where(server.serverAddress, client);
      client.close();
      expect(info.label).toBe('from-main');
      expect(info.hasSocket).toBe(false);
      expect(info.serverAddress).toEqual(server.serverAddress);
      expect(info.clientAddress).toMatchObject({
        host: '203.0.113.7',
        port: 4711,
        label: 'from-main',
        preparedIn: `${info.pid}/${info.threadId}`,
      });
    });
  });
}
