/**
 * Children over their life: idle retirement, blockOnClose false, the
 * bounded wait queue, a child that dies between requests, and no orphan
 * when the parent process dies.
 */
import { spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import type { InetAddress } from '@socketserver/core';
import { TCPServer } from '@socketserver/transport-inet';
import { afterEach, describe, expect, it } from 'vitest';
import { type Job, submitJob } from '../src/child-pool.js';
import { ChildPool, ForkingMixIn } from '../src/index.js';
import { PidHandler } from './fixtures/handlers.mjs';
import { ErrorLog, isAlive, LineClient, serve } from './helpers.js';

const HOST = '127.0.0.1';

class ForkingTCPServer extends ForkingMixIn(TCPServer) {
  readonly log = new ErrorLog();
  mostWaiting = 0;
  override handleError(_request: unknown, clientAddress: unknown, error: unknown): void {
    this.log.add(clientAddress, error);
  }
  override async processRequest(request: any, clientAddress: any): Promise<void> {
    await super.processRequest(request, clientAddress);
    this.mostWaiting = Math.max(this.mostWaiting, this.waitingRequests);
  }
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Waits for a condition about other processes, checking every 10 ms, for at most `ms`. */
async function until(condition: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function askPid(address: InetAddress): Promise<number> {
  const client = await LineClient.open(address);
  client.send('pid\nbye\n');
  const pid = Number(await client.line());
  expect(await client.line()).toBe('bye');
  client.close();
  return pid;
}

describe('child lifecycle', () => {
  it('retires a child idle for childIdleTimeout; collectChildren({ blocking }) waits for exits', async () => {
    const server = await ForkingTCPServer.create({ host: HOST, port: 0 }, PidHandler, {
      childIdleTimeout: 0,
    });
    cleanups.push(serve(server));
    const pid = await askPid(server.serverAddress as InetAddress);
    await server.collectChildren({ blocking: true });
    expect(server.activeChildren.has(pid)).toBe(false);
    expect(isAlive(pid)).toBe(false);
    // The next request gets a new child.
    expect(await askPid(server.serverAddress as InetAddress)).not.toBe(pid);
  });

  it('collectChildren runs from serviceActions and from handleTimeout, as in Python', async () => {
    class Counting extends ForkingTCPServer {
      collections = 0;
      override async collectChildren(options?: { blocking?: boolean }): Promise<void> {
        this.collections++;
        await super.collectChildren(options);
      }
    }
    const server = await Counting.create({ host: HOST, port: 0 }, PidHandler, { timeout: 10 });
    cleanups.push(() => server.serverClose());
    // handleRequest with nothing to do: handleTimeout, then collectChildren.
    await server.handleRequest();
    expect(server.collections).toBe(1);
    // serveForever: serviceActions after each request.
    const stop = serve(server);
    await askPid(server.serverAddress as InetAddress);
    await server.shutdown();
    expect(server.collections).toBeGreaterThan(1);
    await stop();
  });

  it('a child that cannot start fails the waiting request with the reason, never a hang', async () => {
    const server = await ForkingTCPServer.create({ host: HOST, port: 0 }, PidHandler, {
      childExecArgv: ['--no-such-node-option'],
    });
    cleanups.push(serve(server));
    const client = await LineClient.open(server.serverAddress as InetAddress);
    client.send('pid\n');
    expect(await client.line()).toBe(null);
    await server.log.waitFor(1);
    const { error, clientAddress } = server.log.errors[0]!;
    expect(error).toMatchObject({ code: 'ERR_SOCKETSERVER_CHILD_EXITED', exitCode: 9 });
    expect(error.message).toContain('while starting');
    expect((clientAddress as InetAddress).port).toBe(client.port);
    client.close();
  });

  it('blockOnClose false: serverClose does not wait; the child finishes its request, then exits', async () => {
    const server = await ForkingTCPServer.create({ host: HOST, port: 0 }, PidHandler, {
      blockOnClose: false,
    });
    const stop = serve(server);
    const client = await LineClient.open(server.serverAddress as InetAddress);
    client.send('pid\n');
    const pid = Number(await client.line());
    await stop();
    expect(isAlive(pid)).toBe(true);
    client.send('after close\nbye\n');
    expect(await client.line()).toBe('ok after close');
    expect(await client.line()).toBe('bye');
    expect(await client.line()).toBe(null);
    client.close();
    await until(() => !isAlive(pid));
  });

  it('bounds the requests waiting for a busy child, and serves them all', async () => {
    const server = await ForkingTCPServer.create({ host: HOST, port: 0 }, PidHandler, {
      maxChildren: 1,
      maxWaitingRequests: 1,
      requestQueueSize: 16,
    });
    cleanups.push(serve(server));
    const address = server.serverAddress as InetAddress;
    const clients = await Promise.all(Array.from({ length: 6 }, () => LineClient.open(address)));
    const pids = await Promise.all(
      clients.map(async (client, i) => {
        client.send(`pid\n${i}\nbye\n`);
        const pid = Number(await client.line());
        expect(await client.line()).toBe(`ok ${i}`);
        expect(await client.line()).toBe('bye');
        client.close();
        return pid;
      }),
    );
    expect(new Set(pids).size).toBe(1);
    // One waiting for the busy child (the bound), plus one place for a child still to start.
    expect(server.mostWaiting).toBeLessThanOrEqual(2);
    expect(server.log.errors).toEqual([]);
  });

  it('a child that died between requests: the next request settles with an error, its connection closed', async () => {
    const pool = new ChildPool({ maxChildren: 1 });
    cleanups.push(() => pool.close());
    const serverLike = { name: 'test' };
    const { createServer, connect } = await import('node:net');
    const accepted: Socket[] = [];
    const listener = createServer({ pauseOnConnect: true, allowHalfOpen: true }, (socket) =>
      accepted.push(socket),
    );
    await new Promise<void>((resolve) => listener.listen(0, HOST, resolve));
    cleanups.push(async () => {
      listener.close();
    });
    const port = (listener.address() as { port: number }).port;
    const request = async (): Promise<{ client: Socket; socket: Socket }> => {
      const client = connect(port, HOST);
      client.on('error', () => {});
      while (accepted.length === 0)
        await new Promise((resolve) => listener.once('connection', resolve));
      return { client, socket: accepted.shift()! };
    };
    const run = (socket: Socket, text: string, client: Socket) =>
      new Promise<{ error: (Error & { code?: string }) | null; reply: string }>((resolve) => {
        let reply = '';
        client.setEncoding('utf8');
        client.on('data', (chunk) => {
          reply += chunk;
        });
        let settled: (Error & { code?: string }) | null | undefined;
        let closed = false;
        const finish = () => {
          if (settled !== undefined && closed) resolve({ error: settled, reply });
        };
        client.on('close', () => {
          closed = true;
          finish();
        });
        const job: Job = {
          kind: 'stream',
          location: { moduleUrl: PidHandler.moduleUrl!, exportName: 'PidHandler' },
          clientAddress: { host: HOST, port: client.localPort ?? 0, family: 'IPv4' },
          server: serverLike,
          socket,
          onSettled: (error) => {
            settled = error;
            if (error) socket.destroy();
            finish();
          },
        };
        void pool[submitJob](job);
        client.write(text);
      });
    // A first request starts the child.
    const first = await request();
    const firstDone = run(first.socket, 'pid\nbye\n', first.client);
    const { reply } = await firstDone;
    const pid = Number(reply.split('\n')[0]);
    expect(pool.activeChildren).toEqual(new Set([pid]));
    // Kill the idle child and give the pool the next request before it hears of the death.
    const second = await request();
    process.kill(pid, 'SIGKILL');
    const outcome = await run(second.socket, 'pid\nbye\n', second.client);
    // Either the hand-off failed or the child died holding it: an error, never a hang.
    expect(outcome.error?.code ?? outcome.error?.name).toMatch(
      /ERR_SOCKETSERVER_HANDOFF|ERR_SOCKETSERVER_CHILD_EXITED/,
    );
    expect(outcome.reply).toBe('');
  });

  it('leaves no orphan: children exit when the parent process dies', async () => {
    const parent = spawn(
      process.execPath,
      [new URL('./fixtures/parent-dies.mjs', import.meta.url).pathname],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    parent.stdout.setEncoding('utf8');
    const pids = await new Promise<{ busy: number; idle: number }>((resolve, reject) => {
      parent.stdout.on('data', (chunk: string) => {
        out += chunk;
        if (out.includes('\n')) resolve(JSON.parse(out));
      });
      parent.once('exit', (code) => reject(new Error(`parent exited early (${code})`)));
    });
    expect(isAlive(pids.busy)).toBe(true);
    expect(isAlive(pids.idle)).toBe(true);
    const exited = new Promise((resolve) => parent.once('exit', resolve));
    parent.kill('SIGKILL');
    await exited;
    await until(() => !isAlive(pids.idle) && !isAlive(pids.busy));
  });
});
