/**
 * The load generator's correctness: against a correct echo it reports zero
 * mismatches and zero lost replies; against deliberately wrong echo servers
 * (a flipped byte, a swallowed reply, an extra byte, a closed connection)
 * it reports each fault. Every case runs against both generators, each
 * built and in its own process as the benchmark runs them: the Node one
 * (`dist/loadgen.js`) and the native one (`dist/loadgen-native`, from
 * `native/loadgen.c`).
 */
import { createSocket, type Socket as DgramSocket } from 'node:dgram';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createServer as createTLSServer } from 'node:tls';
import { makeCertificates } from '@socketserver/test-deploy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoadConfig, ResultMessage } from '../src/load-config.js';
import {
  type GeneratorKind,
  nativeGeneratorBuilt,
  nativeGeneratorPath,
  spawnNativeGenerator,
} from '../src/native-gen.js';
import { benchDir, startGenerator } from '../src/procs.js';
import { createUnixDgramSocket } from '../src/unix-dgram.js';

let dir = '';
const cleanups: Array<() => Promise<void>> = [];

beforeAll(() => {
  if (!existsSync(resolve(benchDir, 'dist', 'loadgen.js'))) {
    throw new Error('bench is not built: run `pnpm --filter @socketserver/bench run build` first');
  }
  if (!nativeGeneratorBuilt()) {
    throw new Error(
      `${nativeGeneratorPath} is not built: the build compiles native/loadgen.c with cc, gcc or g++; is one installed?`,
    );
  }
  dir = mkdtempSync(join(tmpdir(), 'ssbench-test-'));
});

afterAll(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
  rmSync(dir, { recursive: true, force: true });
});

/** A line-echo server whose reply to each line `transform` decides (`null`: no reply). */
async function streamServer(
  transform: (line: Buffer, index: number, socket: Socket) => Buffer | null,
  path?: string,
): Promise<{ host?: string; port?: number; path?: string }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let pending = Buffer.alloc(0);
    let index = 0;
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (let newline = pending.indexOf(10); newline >= 0; newline = pending.indexOf(10)) {
        const line = pending.subarray(0, newline + 1);
        pending = pending.subarray(newline + 1);
        const reply = transform(Buffer.from(line), index++, socket);
        if (reply !== null && !socket.destroyed) socket.write(reply);
      }
    });
  });
  await new Promise<void>((done) => {
    if (path) server.listen(path, done);
    else server.listen(0, '127.0.0.1', done);
  });
  cleanups.push(
    () =>
      new Promise<void>((done) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => done());
      }),
  );
  const address = server.address();
  return typeof address === 'object' && address !== null
    ? { host: '127.0.0.1', port: address.port }
    : { path: path! };
}

async function udpServer(
  transform: (packet: Buffer, index: number) => Buffer | null,
): Promise<{ host: string; port: number }> {
  const socket: DgramSocket = createSocket('udp4');
  let index = 0;
  socket.on('message', (packet, peer) => {
    const reply = transform(packet, index++);
    if (reply !== null) socket.send(reply, peer.port, peer.address);
  });
  await new Promise<void>((done) => socket.bind(0, '127.0.0.1', done));
  cleanups.push(() => new Promise<void>((done) => socket.close(() => done())));
  return { host: '127.0.0.1', port: socket.address().port };
}

async function generate(
  kind: GeneratorKind,
  target: { host?: string; port?: number; path?: string },
  overrides: Partial<LoadConfig>,
): Promise<ResultMessage> {
  const config: LoadConfig = {
    mode: 'kept',
    transport: 'tcp',
    ...target,
    connections: 3,
    lineLength: 64,
    warmupMs: 20,
    durationMs: 200,
    graceMs: 300,
    replyTimeoutMs: 200,
    connectTimeoutMs: 5000,
    connectParallelism: 2,
    seed: 42,
    ...overrides,
  };
  const generator = startGenerator(config, 20_000, kind);
  try {
    await generator.ready;
    generator.send({ type: config.mode === 'hold' ? 'release' : 'start' });
    return await generator.result;
  } finally {
    generator.kill();
  }
}

const echo = (line: Buffer) => line;

function flipByte(line: Buffer): Buffer {
  const copy = Buffer.from(line);
  copy[3] = copy[3] === 0x41 ? 0x42 : 0x41;
  return copy;
}

async function unixDgramServer(
  path: string,
  transform: (packet: Buffer, index: number) => Buffer | null,
): Promise<{ path: string }> {
  const socket = createUnixDgramSocket();
  let index = 0;
  socket.on('message', (packet, sender) => {
    const reply = transform(packet, index++);
    if (reply !== null && sender !== '') socket.send(reply, sender);
  });
  socket.on('error', () => {});
  socket.bind(path);
  cleanups.push(async () => socket.close());
  return { path };
}

/** A line echo that first requires `prefix` (a PROXY header) on each connection, else closes it. */
async function prefixedServer(
  prefix: Buffer,
): Promise<{ host: string; port: number; refused: () => number }> {
  let refused = 0;
  const server: Server = createServer((socket) => {
    socket.on('error', () => {});
    let received = Buffer.alloc(0);
    let checked = false;
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (!checked) {
        if (received.length < prefix.length) return;
        if (!received.subarray(0, prefix.length).equals(prefix)) {
          refused++;
          socket.destroy();
          return;
        }
        checked = true;
        received = received.subarray(prefix.length);
      }
      const end = received.lastIndexOf(10) + 1;
      if (end > 0) {
        socket.write(received.subarray(0, end));
        received = received.subarray(end);
      }
    });
    socket.on('end', () => socket.end());
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  cleanups.push(() => new Promise<void>((done) => server.close(() => done())));
  return {
    host: '127.0.0.1',
    port: (server.address() as { port: number }).port,
    refused: () => refused,
  };
}

const PREFIX = Buffer.from('0d0a0d0a000d0a515549540a2111000cc00002017f000001c35001bb', 'hex');

describe.each(['node', 'native'] as const)(
  '%s generator, --prefix (a PROXY header first)',
  (kind) => {
    for (const mode of ['kept', 'short'] as const) {
      it(`${mode}: every connection starts with the prefix`, async () => {
        const target = await prefixedServer(PREFIX);
        const { host, port } = target;
        const result = await generate(
          kind,
          { host, port },
          { mode, prefix: PREFIX.toString('hex') },
        );
        expect(result.completed).toBeGreaterThan(0);
        expect(result.mismatches + result.lost + result.errors).toBe(0);
        expect(target.refused()).toBe(0);
      });
    }

    it('without it, the same server refuses every connection (so the test can fail)', async () => {
      const target = await prefixedServer(PREFIX);
      const { host, port } = target;
      const result = await generate(
        kind,
        { host, port },
        {
          mode: 'short',
          connections: 1,
          durationMs: 100,
        },
      );
      expect(result.completed).toBe(0);
      expect(target.refused()).toBeGreaterThan(0);
    });
  },
);

describe('node generator, tls', () => {
  it('speaks TLS to a TLS echo, kept and short', async () => {
    const certs = makeCertificates();
    cleanups.push(async () => certs.remove());
    const server = createTLSServer({ cert: certs.server.cert, key: certs.server.key }, (socket) => {
      socket.on('error', () => {});
      socket.on('data', (chunk: Buffer) => socket.write(chunk));
      socket.on('end', () => socket.end());
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    cleanups.push(() => new Promise<void>((done) => server.close(() => done())));
    const target = { host: '127.0.0.1', port: (server.address() as { port: number }).port };
    for (const mode of ['kept', 'short'] as const) {
      const result = await generate('node', target, { mode, tls: true });
      expect(result.completed, mode).toBeGreaterThan(0);
      expect(result.mismatches + result.lost + result.errors, mode).toBe(0);
    }
  });
});

describe.each(['node', 'native'] as const)('%s generator', (kind) => {
  describe('load generator over TCP kept connections', () => {
    it('reports no mismatch and no loss against a correct echo', async () => {
      const result = await generate(kind, await streamServer(echo), {});
      expect(result.connected).toBe(3);
      expect(result.completed).toBeGreaterThan(0);
      expect(result.mismatches).toBe(0);
      expect(result.lost).toBe(0);
      expect(result.errors).toBe(0);
      expect(result.histogram.total).toBe(result.completed);
      expect(result.cpuUserUs + result.cpuSystemUs).toBeGreaterThan(0);
    });

    it('counts a reply with one wrong byte as a mismatch', async () => {
      const target = await streamServer((line, index) => (index === 5 ? flipByte(line) : line));
      const result = await generate(kind, target, {});
      expect(result.mismatches).toBe(3);
      expect(result.lost).toBe(0);
    });

    it('counts a reply sent on another connection as a mismatch', async () => {
      // Each connection sends different bytes: answering the previous line is wrong.
      let previous: Buffer | null = null;
      const target = await streamServer((line, index) => {
        const reply = index === 4 && previous !== null ? previous : line;
        previous = line;
        return reply;
      });
      const result = await generate(kind, target, {});
      expect(result.mismatches).toBeGreaterThan(0);
    });

    it('counts bytes beyond the reply as unexpected', async () => {
      const target = await streamServer((line, index) =>
        index === 2 ? Buffer.concat([line, Buffer.from('x')]) : line,
      );
      const result = await generate(kind, target, { connections: 1 });
      expect(result.mismatches).toBeGreaterThan(0);
      expect(result.unexpectedBytes).toBeGreaterThan(0);
    });

    it('counts a swallowed reply as lost', async () => {
      const target = await streamServer((line, index) => (index === 3 ? null : line));
      const result = await generate(kind, target, {});
      expect(result.lost).toBe(3);
      expect(result.mismatches).toBe(0);
    });

    it('counts a connection closed before its reply as lost', async () => {
      const target = await streamServer((line, index, socket) => {
        if (index === 3) {
          socket.destroy();
          return null;
        }
        return line;
      });
      const result = await generate(kind, target, { connections: 2 });
      expect(result.lost).toBe(2);
    });
  });

  describe('load generator over short connections', () => {
    it('completes connections with no mismatch against a correct echo', async () => {
      const target = await streamServer((line, _index, socket) => {
        socket.end(line);
        return null;
      });
      const result = await generate(kind, target, { mode: 'short', connections: 2 });
      expect(result.completed).toBeGreaterThan(0);
      expect(result.mismatches).toBe(0);
      expect(result.lost).toBe(0);
      expect(result.errors).toBe(0);
    });

    it('counts wrong bytes and closes without a reply', async () => {
      let count = 0;
      const target = await streamServer((line, _index, socket) => {
        count++;
        if (count % 3 === 0) socket.end(flipByte(line));
        else if (count % 3 === 1) socket.end();
        else socket.end(line);
        return null;
      });
      const result = await generate(kind, target, { mode: 'short', connections: 2 });
      expect(result.completed).toBeGreaterThan(0);
      expect(result.mismatches).toBeGreaterThan(0);
      expect(result.lost).toBeGreaterThan(0);
    });
  });

  describe('load generator over UDP', () => {
    it('reports no mismatch and no loss against a correct echo', async () => {
      const result = await generate(kind, await udpServer(echo), { transport: 'udp' });
      expect(result.completed).toBeGreaterThan(0);
      expect(result.mismatches).toBe(0);
      expect(result.lost).toBe(0);
    });

    it('counts wrong and dropped datagrams', async () => {
      const target = await udpServer((packet, index) => {
        if (index === 4) return flipByte(packet);
        if (index === 7) return null;
        return packet;
      });
      // A reply timeout longer than the run: only the dropped datagram can be lost (outstanding
      // at the end), however slow a busy machine makes the other replies.
      const result = await generate(kind, target, { transport: 'udp', replyTimeoutMs: 5_000 });
      expect(result.mismatches).toBe(1);
      expect(result.lost).toBe(1);
      expect(result.late).toBe(0);
      expect(result.completed).toBeGreaterThan(0);
    });
  });

  describe('load generator over Unix datagrams', () => {
    it('reports no mismatch and no loss against a correct echo', async () => {
      const target = await unixDgramServer(join(dir, `${kind}-ud-ok.sock`), echo);
      const result = await generate(kind, target, {
        transport: 'unixdgram',
        clientPath: join(dir, `${kind}-ud-ok-client`),
        connections: 20,
      });
      expect(result.completed).toBeGreaterThan(0);
      expect(result.mismatches + result.lost + result.errors).toBe(0);
    });

    it('counts wrong and dropped datagrams', async () => {
      const target = await unixDgramServer(join(dir, `${kind}-ud-bad.sock`), (packet, index) => {
        if (index === 4) return flipByte(packet);
        if (index === 7) return null;
        return packet;
      });
      const result = await generate(kind, target, {
        transport: 'unixdgram',
        clientPath: join(dir, `${kind}-ud-bad-client`),
        replyTimeoutMs: 5_000,
      });
      expect(result.mismatches).toBe(1);
      expect(result.lost).toBe(1);
      expect(result.late).toBe(0);
    });
  });

  describe('load generator over a Unix stream socket, and holding connections', () => {
    it('echoes over a path', async () => {
      const target = await streamServer(echo, join(dir, `${kind}-echo.sock`));
      const result = await generate(kind, target, { transport: 'unix' });
      expect(result.completed).toBeGreaterThan(0);
      expect(result.mismatches + result.lost + result.errors).toBe(0);
    });

    it('holds connections after checking one echo on each', async () => {
      const target = await streamServer(echo);
      const result = await generate(kind, target, {
        mode: 'hold',
        connections: 20,
        connectParallelism: 8,
      });
      expect(result.connected).toBe(20);
      expect(result.mismatches + result.lost + result.errors).toBe(0);
    });

    it('does not count a held connection whose echo is wrong', async () => {
      const target = await streamServer((line, index) => (index === 0 ? flipByte(line) : line));
      const result = await generate(kind, target, { mode: 'hold', connections: 4 });
      expect(result.connected).toBe(0);
      expect(result.mismatches).toBe(4);
    });
  });
});

describe('the two generators', () => {
  it('send the same bytes for the same seed', async () => {
    const seen: Record<GeneratorKind, string[]> = { node: [], native: [] };
    let current: GeneratorKind = 'node';
    const target = await streamServer((line) => {
      seen[current].push(line.toString('latin1'));
      return line;
    });
    for (const kind of ['node', 'native'] as const) {
      current = kind;
      const result = await generate(kind, target, {
        mode: 'hold',
        connections: 3,
        connectParallelism: 1,
        seed: 12345,
      });
      expect(result.connected).toBe(3);
    }
    expect(seen.native).toHaveLength(3);
    expect(seen.native).toEqual(seen.node);
  });
});

describe('the native generator', () => {
  it('exits when its stdin closes (its parent went away)', async () => {
    const target = await streamServer(echo);
    const generator = spawnNativeGenerator({
      mode: 'kept',
      transport: 'tcp',
      ...target,
      connections: 2,
      lineLength: 64,
      warmupMs: 0,
      durationMs: 60_000,
      graceMs: 0,
      replyTimeoutMs: 1000,
      connectTimeoutMs: 5000,
      connectParallelism: 2,
      seed: 1,
    });
    const exited = new Promise<number | null>((done) =>
      generator.child.once('exit', (code) => done(code)),
    );
    try {
      const ready = await new Promise<{ connected: number }>((done) =>
        generator.messages.on('message', (message: { type: string; connected: number }) => {
          if (message.type === 'ready') done(message);
        }),
      );
      expect(ready.connected).toBe(2);
      generator.send({ type: 'start' });
      await new Promise<void>((done) =>
        generator.messages.on('message', (message: { type: string }) => {
          if (message.type === 'window') done();
        }),
      );
      generator.child.stdin!.end();
      expect(await exited).toBe(0);
    } finally {
      generator.child.kill('SIGKILL');
    }
  });
});
