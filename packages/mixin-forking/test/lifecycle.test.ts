/**
 * Children over their life: idle retirement, blockOnClose false, the
 * bounded wait queue, a child that dies between requests, and no orphan
 * when the parent process dies.
 */
import { spawn } from 'node:child_process';
import type { InetAddress } from '@socketserver/core';
import { TCPServer } from '@socketserver/transport-inet';
import { afterEach, describe, expect, it } from 'vitest';
import { ForkingMixIn } from '../src/index.js';
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
  it('collectChildren({ blocking }) retires every child and waits for their exits', async () => {
    const server = await ForkingTCPServer.create({ host: HOST, port: 0 }, PidHandler);
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

  it('a child that cannot start fails create with the reason, never a hang', async () => {
    const creating = ForkingTCPServer.create({ host: HOST, port: 0 }, PidHandler, {
      // A preload that ends the process before the host runtime runs.
      hostExecArgv: ['--import', 'data:text/javascript,process.exit(9)'],
    });
    await expect(creating).rejects.toMatchObject({
      code: 'ERR_SOCKETSERVER_HOST_EXITED',
      exitCode: 9,
      message: expect.stringContaining('while starting'),
    });
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
      hostConcurrency: 1,
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
    // At most one waits for the busy child: the bound.
    expect(server.mostWaiting).toBeLessThanOrEqual(1);
    expect(server.log.errors).toEqual([]);
  });

  it('a child that died between requests: the next request settles with an error or a new child, never a hang', async () => {
    const server = await ForkingTCPServer.create({ host: HOST, port: 0 }, PidHandler, {
      maxChildren: 1,
    });
    cleanups.push(serve(server));
    const address = server.serverAddress as InetAddress;
    const pid = await askPid(address);
    // Kill the idle child and give the server the next request before it hears of the death.
    process.kill(pid, 'SIGKILL');
    const client = await LineClient.open(address);
    client.send('pid\nbye\n');
    const first = await client.line();
    client.close();
    if (first === null) {
      await server.log.waitFor(1);
      expect((server.log.errors[0]!.error as { code?: string }).code).toMatch(
        /ERR_SOCKETSERVER_HANDOFF|ERR_SOCKETSERVER_HOST_EXITED/,
      );
    } else expect(Number(first)).not.toBe(pid);
    // Either way a new child serves what comes next.
    expect(await askPid(address)).not.toBe(pid);
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
