/**
 * How a connection reaches a worker thread: moved to it where the Node line
 * can (24.21 and later, 26), else bridged; Unix stream sockets are always
 * bridged. Each line asserts the path it has, and the bridge is exercised on
 * every line (through a Unix socket).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SharedState, threadDriver } from '../../src/host/index.js';
import { canMoveSockets } from '../../src/node-internals.js';
import type { StreamServer } from '../../src/stream-server.js';
import type { InetAddress } from '../../src/types.js';
import { EchoBytes, LateReader, Probe, Source } from './fixtures/handlers.mjs';
import {
  HOST,
  hosted,
  LineClient,
  LoopbackTCPServer,
  PathStreamServer,
  serve,
  until,
} from './helpers.js';

const cleanups: Array<() => unknown> = [];
let dir = '';
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sspath-'));
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await rm(dir, { recursive: true, force: true });
});

/** What {@link capturing} adds. */
interface Capture {
  captured: Socket | null;
  state: SharedState<{ gate: readonly ['int32', number] }>;
}

/** Records the connection the main thread accepted. */
function capturing<T extends abstract new (...args: any[]) => StreamServer<any>>(
  Base: T,
): T & (abstract new (...args: any[]) => Capture) {
  abstract class Capturing extends Base {
    captured: Socket | null = null;
    state = new SharedState({ gate: ['int32', 2] as const });
    override verifyRequest(request: Socket) {
      this.captured = request;
      return true;
    }
  }
  return Capturing;
}

class ThreadTCP extends capturing(hosted(LoopbackTCPServer, threadDriver)) {}
class ThreadUnix extends capturing(hosted(PathStreamServer, threadDriver)) {}

const TCP_ADDRESS: InetAddress = { host: HOST, port: 0, family: 'IPv4' };

describe(`connections of worker threads (${process.version}: sockets ${canMoveSockets() ? 'move' : 'do not move'} to threads)`, () => {
  it(
    canMoveSockets()
      ? 'TCP: the connection moves to the worker, which owns it'
      : 'TCP: the connection is bridged, the main thread owns it',
    async () => {
      const server = await ThreadTCP.create(TCP_ADDRESS, Probe);
      cleanups.push(serve(server));
      const client = await LineClient.open(server.serverAddress);
      const info = JSON.parse((await client.ask('where\n'))!);
      expect(info.request).toBe(canMoveSockets() ? 'Socket' : 'BridgedSocket');
      expect(info.remotePort).toBe(client.socket.localPort);
      // Moved: the main thread's socket let go of its descriptor at once.
      expect(server.captured!.destroyed).toBe(canMoveSockets());
      client.close();
    },
  );

  it('Unix stream: bridged on every line', async () => {
    const server = await ThreadUnix.create(join(dir, 's.sock'), Probe);
    cleanups.push(serve(server));
    const client = await LineClient.open(server.serverAddress);
    expect(JSON.parse((await client.ask('where\n'))!).request).toBe('BridgedSocket');
    expect(server.captured!.destroyed).toBe(false);
    client.close();
  });

  for (const [name, make] of [
    ['TCP', () => ThreadTCP.create(TCP_ADDRESS, EchoBytes)],
    ['Unix stream', () => ThreadUnix.create(join(dir, 'b.sock'), EchoBytes)],
  ] as const) {
    it(`${name}: bytes of every size arrive whole and in order`, async () => {
      const server = await make();
      cleanups.push(serve(server));
      const input = Buffer.alloc(700_000);
      let seed = 12345;
      for (let i = 0; i < input.length; i++) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        input[i] = seed >>> 24;
      }
      const address = server.serverAddress;
      const client =
        typeof address === 'string'
          ? connect({ path: address })
          : connect(address.port, address.host);
      const chunks: Buffer[] = [];
      client.on('data', (chunk) => chunks.push(chunk));
      const closed = new Promise((resolve) => client.on('close', resolve));
      const sizes = [3, 16_384, 1, 70_000, 16_383, 500, 16_385, 9];
      for (let at = 0, i = 0; at < input.length; i++) {
        const end = Math.min(input.length, at + sizes[i % sizes.length]!);
        client.write(input.subarray(at, end));
        at = end;
      }
      client.end();
      await closed;
      expect(Buffer.concat(chunks).equals(input)).toBe(true);
    });
  }

  it('the bridge bounds memory both ways: a handler that does not read stops the main thread reading; a peer that does not read stops the handler', async () => {
    const size = 8 * 1024 * 1024;
    const up = await ThreadUnix.create(join(dir, 'up.sock'), LateReader);
    cleanups.push(serve(up));
    const client = connect({ path: up.serverAddress });
    const chunks: Buffer[] = [];
    client.on('data', (chunk) => chunks.push(chunk));
    const closed = new Promise((resolve) => client.on('close', resolve));
    client.end(Buffer.alloc(size, 0x63));
    await until(() => Atomics.load(up.state.fields.gate, 1) === 1 && up.captured !== null);
    // Let the bytes flow as far as they can: the main thread stops at its credit.
    let read = -1;
    for (let turn = 0; turn < 200 && read !== up.captured!.bytesRead; turn++) {
      read = up.captured!.bytesRead;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(up.captured!.bytesRead).toBeLessThanOrEqual(512 * 1024);
    Atomics.store(up.state.fields.gate, 0, 1);
    await closed;
    expect(Buffer.concat(chunks).toString()).toBe(`${size}\n`);

    // Far more than the kernel's buffers hold, in 16 KiB and in 1000-byte writes.
    for (const write of [16 * 1024, 1000]) {
      const downSize = 24 * 1024 * 1024;
      const down = await ThreadUnix.create(join(dir, `down${write}.sock`), Source);
      cleanups.push(serve(down));
      const reader = connect({ path: down.serverAddress });
      reader.pause();
      reader.write(`${downSize} ${write}\n`);
      await until(() => down.captured !== null && down.captured.bytesWritten > 0);
      let maxBuffered = 0;
      let written = -1;
      for (let turn = 0; turn < 200 && written !== down.captured!.bytesWritten; turn++) {
        written = down.captured!.bytesWritten;
        maxBuffered = Math.max(maxBuffered, down.captured!.writableLength);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      expect(maxBuffered).toBeLessThanOrEqual(256 * 1024);
      expect(down.captured!.bytesWritten).toBeLessThan(downSize / 2);
      let total = 0;
      reader.on('data', (chunk) => {
        total += chunk.length;
      });
      const ended = new Promise((resolve) => reader.on('end', resolve));
      reader.resume();
      await ended;
      expect(total).toBe(downSize);
      reader.destroy();
    }
  });
});
