/**
 * The Node internals `src/node-internals.ts` relies on. Each test names the
 * function it guards: a failure here means a Node release changed what that
 * function reaches into, and the function must be updated before release.
 */
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { fstatSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { canMoveSockets, handleFd, stopReading, watchHandleAcks } from '../src/node-internals.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function listen(options: { pauseOnConnect?: boolean } = {}): Promise<Server> {
  const server = createServer(options);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return server;
}

/** Connects to `server` and resolves with the accepted socket and the client. */
async function accepted(server: Server): Promise<{ socket: Socket; client: Socket }> {
  const socket = new Promise<Socket>((resolve) => server.once('connection', resolve));
  const client = connect((server.address() as { port: number }).port, '127.0.0.1');
  client.on('error', () => {});
  cleanups.push(() => client.destroy());
  const result = { socket: await socket, client };
  cleanups.push(() => result.socket.destroy());
  return result;
}

describe('Node internals (src/node-internals.ts)', () => {
  it('handleFd: a listening net.Server and a bound dgram socket expose their descriptor', async () => {
    const server = await listen();
    const fd = handleFd(server);
    expect(fd, 'handleFd(net.Server): _handle.fd is gone').toBeGreaterThan(2);
    expect(fstatSync(fd).isSocket()).toBe(true);
    const dgram = createSocket('udp4');
    await new Promise<void>((resolve) => dgram.bind(0, '127.0.0.1', resolve));
    cleanups.push(() => dgram.close());
    const dgramFd = handleFd(dgram);
    expect(dgramFd, 'handleFd(dgram.Socket): the state symbol record changed').toBeGreaterThan(2);
    expect(fstatSync(dgramFd).isSocket()).toBe(true);
    expect(handleFd(null)).toBe(-1);
  });

  it('stopReading and watchHandleAcks: bytes stay in the kernel for the child a socket is handed to, which Node acknowledges', async () => {
    const server = await listen({ pauseOnConnect: true });
    const { socket, client } = await accepted(server);
    // A read() turns reading on at the handle, even on a paused socket.
    socket.read(0);
    const handle = (socket as unknown as { _handle: { reading: boolean; readStop: unknown } })
      ._handle;
    expect(typeof handle?.readStop, 'stopReading: net.Socket#_handle.readStop is gone').toBe(
      'function',
    );
    expect(handle.reading, 'stopReading: _handle.reading no longer tracks reading').toBe(true);
    stopReading(socket);
    expect(handle.reading).toBe(false);
    // The peer's bytes reach this host's kernel; a reading handle would take them in the next turn.
    await new Promise((resolve) => client.write('hello', resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(socket.bytesRead).toBe(0);

    const child = spawn(
      process.execPath,
      ['-e', "process.on('message', (m, s) => s.on('data', (d) => s.end('child:' + d)))"],
      { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
    );
    cleanups.push(() => child.kill());
    const acked = new Promise<string>((resolve) => {
      watchHandleAcks(child, { onAck: () => resolve('ack'), onNack: () => resolve('nack') });
    });
    child.send('socket', socket);
    expect(await acked, 'watchHandleAcks: no NODE_HANDLE_ACK internalMessage').toBe('ack');
    socket.destroy();
    let reply = '';
    client.on('data', (d) => (reply += d));
    await new Promise((resolve) => client.once('end', resolve));
    expect(reply).toBe('child:hello');
  });

  it(`canMoveSockets: says what this Node line does (${process.version})`, async () => {
    const server = await listen({ pauseOnConnect: true });
    const { socket, client } = await accepted(server);
    const worker = new Worker(
      `const { parentPort } = require('node:worker_threads');
       parentPort.on('message', ({ socket }) => socket.on('data', (d) => socket.end('moved:' + d)));`,
      { eval: true },
    );
    cleanups.push(() => worker.terminate());
    let moved: boolean;
    try {
      worker.postMessage({ socket }, [socket as never]);
      moved = true;
    } catch {
      moved = false;
    }
    expect(canMoveSockets(), 'canMoveSockets: the probe disagrees with a real transfer').toBe(
      moved,
    );
    if (moved) {
      // The worker owns the connection now: it reads and writes it itself.
      let reply = '';
      client.on('data', (d) => (reply += d));
      client.write('ping');
      await new Promise((resolve) => client.once('end', resolve));
      expect(reply).toBe('moved:ping');
    } else {
      // Refused: the socket is untouched and still usable here.
      expect(socket.destroyed).toBe(false);
      socket.end('kept');
      let reply = '';
      client.on('data', (d) => (reply += d));
      await new Promise((resolve) => client.once('end', resolve));
      expect(reply).toBe('kept');
    }
  });
});
