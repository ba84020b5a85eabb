/**
 * Faults: CPython's test_forking_handled / test_forking_not_handled, and a
 * child that dies mid-request (SIGKILL, process.exit, an error outside the
 * handler) while other requests go on.
 */
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InetAddress } from '@socketserver/core';
import { TCPServer } from '@socketserver/transport-inet';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ForkingMixIn, HostExitedError } from '../src/index.js';
import { BadHandler, PidHandler } from './fixtures/handlers.mjs';
import { ErrorLog, isAlive, LineClient, serve } from './helpers.js';

const HOST = '127.0.0.1';
const dir = mkdtempSync(join(tmpdir(), 'forking-faults-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Python's ForkingErrorTestServer: one request through `handleRequest`,
 * then `serverClose`; `handleError` logs to the file the handler logs to.
 */
class ForkingErrorTestServer extends ForkingMixIn(TCPServer) {
  logPath = '';
  exception = 'ValueError';
  readonly errors: Error[] = [];

  override handleError(_request: unknown, _clientAddress: unknown, error: unknown): void {
    const err = error as Error & { code?: string };
    this.errors.push(err);
    // Which error: the handler's (by name) or the child's end (by code).
    const what = err instanceof HostExitedError ? err.code : err.name;
    appendFileSync(this.logPath, `Error handled (${what})\n`);
  }

  static async run(exception: string, logPath: string): Promise<ForkingErrorTestServer> {
    const server = await ForkingErrorTestServer.create({ host: HOST, port: 0 }, BadHandler, {
      exception,
      logPath,
    });
    const address = server.serverAddress as InetAddress;
    await new Promise<void>((resolve, reject) => {
      const client = connect(address.port, address.host, () => {
        client.end();
        resolve();
      });
      client.on('error', reject);
    });
    try {
      await server.handleRequest();
    } finally {
      await server.serverClose();
    }
    return server;
  }
}

describe('CPython ErrorHandlerTest ports', () => {
  it('test_forking_handled: the handler error reaches the parent handleError, with its stack', async () => {
    const logPath = join(dir, 'handled.log');
    const server = await ForkingErrorTestServer.run('ValueError', logPath);
    expect(readFileSync(logPath, 'utf8')).toBe('Handler called\nError handled (ValueError)\n');
    const [error] = server.errors;
    expect(error).toMatchObject({ name: 'ValueError', message: 'Test error' });
    expect(error!.stack).toContain('handlers.mjs');
    expect(error).toBeInstanceOf(Error);
  });

  it('test_forking_not_handled: an exit in the handler is not a handler error; the parent learns why', async () => {
    // Python's SystemExit ends the forked child without handle_error. Here the
    // parent's handleError is told the child exited (code 1), not a handler error.
    const logPath = join(dir, 'not-handled.log');
    const server = await ForkingErrorTestServer.run('exit', logPath);
    expect(readFileSync(logPath, 'utf8')).toBe(
      'Handler called\nError handled (ERR_SOCKETSERVER_HOST_EXITED)\n',
    );
    expect(server.errors[0]).toMatchObject({ exitCode: 1, signal: null, hostKind: 'process' });
  });
});

class ForkingTCPServer extends ForkingMixIn(TCPServer) {
  readonly log = new ErrorLog();
  override handleError(_request: unknown, clientAddress: unknown, error: unknown): void {
    this.log.add(clientAddress, error);
  }
}

describe('a child that dies mid-request', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function threeClients() {
    const server = await ForkingTCPServer.create({ host: HOST, port: 0 }, PidHandler, {
      maxChildren: 4,
    });
    cleanups.push(serve(server));
    const address = server.serverAddress as InetAddress;
    const clients = await Promise.all([0, 1, 2].map(() => LineClient.open(address)));
    cleanups.push(async () => {
      for (const client of clients) client.close();
    });
    const pids = await Promise.all(
      clients.map(async (client) => {
        client.send('pid\n');
        return Number(await client.line());
      }),
    );
    // Three requests at once: three children.
    expect(new Set(pids).size).toBe(3);
    return { server, clients, pids };
  }

  async function othersComplete(clients: LineClient[], survivors: number[]): Promise<void> {
    for (const i of survivors) {
      clients[i]!.send(`still ${i}\nbye\n`);
      expect(await clients[i]!.line()).toBe(`ok still ${i}`);
      expect(await clients[i]!.line()).toBe('bye');
      expect(await clients[i]!.line()).toBe(null);
      clients[i]!.close();
    }
  }

  it('SIGINT and SIGTERM to a child (Ctrl-C or a service manager signal the process group) do not cut its request', async () => {
    const { server, clients, pids } = await threeClients();
    process.kill(pids[1]!, 'SIGINT');
    process.kill(pids[1]!, 'SIGTERM');
    await othersComplete(clients, [0, 1, 2]);
    expect(isAlive(pids[1]!)).toBe(true);
    expect(server.log.errors).toHaveLength(0);
  });

  it('SIGKILL: that connection closes, handleError names the request and the signal, others complete', async () => {
    const { server, clients, pids } = await threeClients();
    process.kill(pids[1]!, 'SIGKILL');
    expect(await clients[1]!.line()).toBe(null);
    await server.log.waitFor(1);
    const [{ clientAddress, error }] = server.log.errors as [
      { clientAddress: InetAddress; error: HostExitedError },
    ];
    expect(error).toBeInstanceOf(HostExitedError);
    expect(error).toMatchObject({
      code: 'ERR_SOCKETSERVER_HOST_EXITED',
      hostId: pids[1],
      signal: 'SIGKILL',
    });
    expect(clientAddress.port).toBe(clients[1]!.port);
    expect(error.message).toContain(
      `killed by SIGKILL while handling the request from 127.0.0.1:${clients[1]!.port}`,
    );
    await othersComplete(clients, [0, 2]);
    // The child is replaced: a new request is served.
    const next = await LineClient.open(server.serverAddress as InetAddress);
    next.send('pid\nbye\n');
    const pid = Number(await next.line());
    expect(pid).not.toBe(pids[1]);
    expect(isAlive(pid)).toBe(true);
    expect(await next.line()).toBe('bye');
    next.close();
    expect(server.log.errors).toHaveLength(1);
  });

  it('process.exit in the handler: reported with the exit code', async () => {
    const { server, clients } = await threeClients();
    clients[0]!.send('exit\n');
    expect(await clients[0]!.line()).toBe(null);
    await server.log.waitFor(1);
    expect(server.log.errors[0]!.error).toMatchObject({
      code: 'ERR_SOCKETSERVER_HOST_EXITED',
      exitCode: 3,
    });
    await othersComplete(clients, [1, 2]);
  });

  it('an error thrown outside the handler: reported with that error as the cause', async () => {
    const { server, clients } = await threeClients();
    clients[2]!.send('throw-later\n');
    expect(await clients[2]!.line()).toBe(null);
    await server.log.waitFor(1);
    const { error, clientAddress } = server.log.errors[0]!;
    expect(error).toMatchObject({ code: 'ERR_SOCKETSERVER_HOST_EXITED', exitCode: 70 });
    expect(error.message).toContain(
      'uncaught RangeError outside the handler: thrown outside the handler',
    );
    expect((error.cause as Error).stack).toContain('handlers.mjs');
    expect((clientAddress as InetAddress).port).toBe(clients[2]!.port);
    await othersComplete(clients, [0, 1]);
  });
});
