/**
 * Connections: keep-alive, the idle and head limits, the connection cap,
 * slow clients cut off while others are served, peers that vanish.
 */
import { writeFileSync } from 'node:fs';
import { connect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BaseHTTPRequestHandler } from '../src/index.js';
import { RawClient, type Running, start, tempDir, until } from './helpers.js';

const temp = tempDir();
const BIG = Buffer.alloc(16 * 1024 * 1024, 'x');

beforeAll(() => {
  writeFileSync(join(temp.dir, 'a.txt'), 'aaa');
  writeFileSync(join(temp.dir, 'big.bin'), BIG);
});

afterAll(() => temp.cleanup());

function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) resolve();
    else socket.once('close', () => resolve());
  });
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    // Flowing, so end of stream and close are seen (tests that stall reading pause it).
    socket.resume();
    socket.on('error', () => {});
    socket.once('error', reject);
  });
}

describe('keep-alive', () => {
  let run: Running;
  beforeAll(async () => {
    run = await start({ directory: temp.dir, keepAliveTimeout: 1500 });
  });
  afterAll(() => run.stop());

  it('serves several requests on one connection', async () => {
    const client = await RawClient.connect(run.port);
    for (let i = 0; i < 10; i++) {
      client.write(`GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n`);
      const response = await client.response();
      expect(response.status).toBe(200);
      expect(response.headers.connection).toBeUndefined();
      expect(response.body.toString()).toBe('aaa');
    }
    client.write('GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect((await client.response()).headers.connection).toBe('close');
    await client.waitClosed();
  });

  it('fetch reuses one connection for sequential requests', async () => {
    const { Agent } = await import('undici');
    const agent = new Agent({ connections: 1 });
    let connections = 0;
    const count = () => connections++;
    (run.server as unknown as { socket: Server }).socket.on('connection', count);
    try {
      for (let i = 0; i < 5; i++) {
        const { request } = await import('undici');
        const response = await request(`${run.base}/a.txt`, { dispatcher: agent });
        expect(await response.body.text()).toBe('aaa');
      }
      expect(connections).toBe(1);
    } finally {
      (run.server as unknown as { socket: Server }).socket.off('connection', count);
      await agent.close();
    }
  });

  it('closes a connection idle for longer than keepAliveTimeout', async () => {
    const client = await RawClient.connect(run.port);
    client.write('GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n');
    await client.response();
    const served = Date.now();
    await client.waitClosed();
    expect(Date.now() - served).toBeGreaterThanOrEqual(1400);
  });
});

describe('slow clients', () => {
  let run: Running;
  beforeAll(async () => {
    run = await start({ directory: temp.dir, headTimeout: 2500, sendTimeout: 2500 });
  });
  afterAll(() => run.stop());

  it('a client trickling its head is cut off at the deadline while another is served', async () => {
    const slow = await open(run.port);
    let received = '';
    slow.on('data', (chunk) => {
      received += chunk.toString('latin1');
    });
    slow.write('GET /a.txt HTTP/1.1\r\nHost: x\r\n');
    const drip = setInterval(() => slow.write('X-Drip: 1\r\n'), 50);
    const slowClosed = closed(slow).then(() => Date.now());
    try {
      const startedAt = Date.now();
      const response = await fetch(`${run.base}/a.txt`);
      expect(await response.text()).toBe('aaa');
      const fastDone = Date.now();
      const cutAt = await slowClosed;
      expect(fastDone).toBeLessThan(cutAt);
      expect(cutAt - startedAt).toBeGreaterThanOrEqual(2400);
      expect(received.startsWith('HTTP/1.1 408 ')).toBe(true);
    } finally {
      clearInterval(drip);
      slow.destroy();
    }
  });

  it('a client that connects and sends nothing is cut off', async () => {
    const silent = await open(run.port);
    await closed(silent);
  });

  it('a client that stops reading a large response is cut off', async () => {
    const reader = await open(run.port);
    reader.pause();
    reader.write('GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n');
    const served = () =>
      [...run.server.httpConnections].some(
        (handler) => (handler.clientAddress as { port: number }).port === reader.localPort,
      );
    await until(served, 'the request to start');
    const response = await fetch(`${run.base}/a.txt`);
    expect(await response.text()).toBe('aaa');
    await until(() => !served(), 'the stalled reader to be cut off');
    reader.destroy();
  });

  it('a peer that resets mid-response does not disturb the server', async () => {
    for (let i = 0; i < 5; i++) {
      const socket = await open(run.port);
      socket.write('GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n');
      await new Promise((resolve) => socket.once('data', resolve));
      socket.resetAndDestroy();
    }
    const response = await fetch(`${run.base}/big.bin`);
    expect((await response.arrayBuffer()).byteLength).toBe(BIG.length);
  });
});

describe('slow bodies and stalled readers (holes 1 and 2)', () => {
  class Upload extends BaseHTTPRequestHandler {
    async doPOST(): Promise<void> {
      const body = await this.readBody(1 << 20);
      this.sendResponse(200);
      this.sendHeader('Content-Length', body.length);
      await this.endHeaders(body);
    }
  }
  let run: Running;
  beforeAll(async () => {
    run = await start({
      directory: temp.dir,
      bodyTimeout: 1000,
      bodyMinRate: 500,
      sendTimeout: 1500,
      maxConnections: 3,
    });
  });
  afterAll(() => run.stop());

  /** Sends a head announcing a 64 KiB body, then one byte of it every 200 ms. */
  async function dripBody(port: number, head: string) {
    const socket = await open(port);
    let received = '';
    socket.on('data', (chunk) => {
      received += chunk.toString('latin1');
    });
    socket.write(`${head}Content-Length: 65536\r\n\r\n`);
    const drip = setInterval(() => socket.write('x'), 200);
    const done = closed(socket).then(() => {
      clearInterval(drip);
      return received;
    });
    return { socket, done, stop: () => clearInterval(drip) };
  }

  it('a body sent a byte at a time is cut off: the response sent, then the connection', async () => {
    const slow = await dripBody(run.port, 'GET /a.txt HTTP/1.1\r\nHost: x\r\n');
    try {
      const received = await Promise.race([
        slow.done,
        new Promise((resolve) => setTimeout(() => resolve('still open after 6 s'), 6000)),
      ]);
      expect(received).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\naaa$/);
    } finally {
      slow.stop();
      slow.socket.destroy();
    }
  });

  it('a handler waiting for a slow body: 408, then the connection is closed', async () => {
    const upload = await start({ RequestHandlerClass: Upload, bodyTimeout: 1000 });
    const slow = await dripBody(upload.port, 'POST /up HTTP/1.1\r\nHost: x\r\n');
    try {
      const received = await Promise.race([
        slow.done,
        new Promise((resolve) => setTimeout(() => resolve('still open after 6 s'), 6000)),
      ]);
      expect(received).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
      expect(received).toMatch(/\r\nConnection: close\r\n/);
    } finally {
      slow.stop();
      slow.socket.destroy();
      await upload.stop();
    }
  });

  it('three slow bodies at a cap of three do not hold a fresh request for long', async () => {
    const slow = await Promise.all(
      [1, 2, 3].map(() => dripBody(run.port, 'GET /a.txt HTTP/1.1\r\nHost: x\r\n')),
    );
    try {
      await until(() => run.server.activeRequests === 3, 'three slow connections in handlers');
      const answer = fetch(`${run.base}/a.txt`).then((response) => response.text());
      const result = await Promise.race([
        answer,
        new Promise((resolve) => setTimeout(() => resolve('not served within 6 s'), 6000)),
      ]);
      expect(result).toBe('aaa');
    } finally {
      for (const { socket, stop } of slow) {
        stop();
        socket.destroy();
      }
    }
  });

  it('a reader that stops is cut off at sendTimeout, not twice it', async () => {
    const reader = await open(run.port);
    reader.pause();
    const askedAt = Date.now();
    reader.write('GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n');
    const served = () =>
      [...run.server.httpConnections].some(
        (handler) => (handler.clientAddress as { port: number }).port === reader.localPort,
      );
    await until(served, 'the request to start');
    await until(() => !served(), 'the stalled reader to be cut off');
    const cutAfter = Date.now() - askedAt;
    reader.destroy();
    // sendTimeout 1500 ms, looked at every 150 ms; Node's own socket timeout would take 3000.
    expect(cutAfter).toBeGreaterThanOrEqual(1400);
    expect(cutAfter).toBeLessThan(2700);
  });
});

describe('connection cap', () => {
  it('serves at most maxConnections at once; extra ones wait, beyond the queue they are closed', async () => {
    const run = await start({
      directory: temp.dir,
      maxConnections: 2,
      requestQueueSize: 1,
      headTimeout: 3000,
    });
    const origError = run.server.handleError.bind(run.server);
    const refusals: unknown[] = [];
    run.server.handleError = (request, address, error) => {
      if ((error as { code?: string }).code === 'ERR_SOCKETSERVER_QUEUE_FULL') refusals.push(error);
      else return origError(request, address, error);
    };
    try {
      const idle = [await open(run.port), await open(run.port)];
      await until(() => run.server.httpConnections.size === 2, 'two idle connections in handlers');
      // Taken by the loop, waiting for a slot.
      const waiting = await RawClient.connect(run.port);
      waiting.write('GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      await until(() => run.server.queuedRequests === 0, 'the loop to take the third');
      // In the queue.
      const queued = await RawClient.connect(run.port);
      queued.write('GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      await until(() => run.server.queuedRequests === 1, 'the fourth to be queued');
      // Beyond the queue: closed at once.
      const refused = await open(run.port);
      await closed(refused);
      expect(refusals.length).toBe(1);
      expect(run.server.httpConnections.size).toBe(2);
      // The idle ones hit the head deadline; the waiting ones are then served.
      expect((await waiting.response()).body.toString()).toBe('aaa');
      expect((await queued.response()).body.toString()).toBe('aaa');
      await Promise.all(idle.map(closed));
    } finally {
      await run.stop();
    }
  });
});

describe('graceful close', () => {
  it('closeIdleConnections closes waiting connections at once, not busy ones', async () => {
    const run = await start({ directory: temp.dir, keepAliveTimeout: 10_000 });
    try {
      const client = await RawClient.connect(run.port);
      client.write('GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n');
      await client.response();
      await until(() => run.server.httpConnections.size === 1, 'the connection to be tracked');
      run.server.closeIdleConnections();
      await client.waitClosed();
    } finally {
      await run.stop();
    }
  });
});
