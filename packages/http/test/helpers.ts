/** Shared test helpers: a server on a temp directory, raw socket clients. */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventLoopMixIn, type RequestHandlerClass } from '@socketserver/core';
import { TCPServer } from '@socketserver/transport-inet';
import { RACY_WINDOW_MS } from '../src/file-cache.js';
import {
  type FileSettings,
  HTTPServer,
  type HTTPSettings,
  SimpleHTTPRequestHandler,
} from '../src/index.js';

/** The server the tests use: Python's HTTPServer, on the event loop. */
export class EventLoopHTTPServer extends EventLoopMixIn(HTTPServer(TCPServer)) {}

/** Options of {@link start}: handler settings, and a few server ones. */
export type StartOptions = Partial<HTTPSettings & FileSettings> & {
  RequestHandlerClass?: RequestHandlerClass;
  /** The event loop's `maxConcurrentRequests`. */
  maxConnections?: number;
  requestQueueSize?: number;
};

export interface Running {
  server: EventLoopHTTPServer;
  port: number;
  base: string;
  stop(): Promise<void>;
}

/** Starts a quiet server on 127.0.0.1:0 (a `SimpleHTTPRequestHandler` unless told). */
export async function start(options: StartOptions = {}): Promise<Running> {
  const { RequestHandlerClass, maxConnections, requestQueueSize, ...settings } = options;
  const server = await EventLoopHTTPServer.create(
    { host: '127.0.0.1', port: 0 },
    RequestHandlerClass ?? SimpleHTTPRequestHandler,
    {
      handlerSettings: { quiet: true, ...settings },
      requestQueueSize: requestQueueSize ?? 511,
      maxConcurrentRequests: maxConnections ?? 1000,
    },
  );
  const serving = server.serveForever({ pollInterval: 50 });
  const port = server.serverAddress.port;
  return {
    server,
    port,
    base: `http://127.0.0.1:${port}`,
    async stop() {
      await server.shutdown();
      await serving;
      for (const handler of server.httpConnections) handler.connection.destroy();
      await server.serverClose();
    },
  };
}

/** A fresh temp directory; `cleanup` removes it. */
export function tempDir(prefix = 'sshttp-'): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Sends `data` on a new connection (to a port, or a Unix socket path), then
 * end of stream with `end`, and collects every byte until the server closes
 * it (bounded: rejects after `limitMs`).
 */
export function raw(
  to: number | string,
  data: string | Buffer,
  limitMs = 8000,
  { end = false } = {},
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = typeof to === 'number' ? connect(to, '127.0.0.1') : connect(to);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new Error(
          `no close within ${limitMs} ms; got ${JSON.stringify(Buffer.concat(chunks).toString('latin1'))}`,
        ),
      );
    }, limitMs);
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    if (end) socket.end(data);
    else socket.write(data);
  });
}

/** A connection that reads whole responses one at a time (Content-Length framed). */
export class RawClient {
  socket: Socket;
  #buffer = Buffer.alloc(0);
  #waiters: Array<() => void> = [];
  closed = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      this.#wake();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.#wake();
    });
  }

  /** Connects to a port on 127.0.0.1, or to a Unix socket path. */
  static connect(to: number | string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket =
        typeof to === 'number'
          ? connect(to, '127.0.0.1', () => resolve(new RawClient(socket)))
          : connect(to, () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  #wake(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }

  #more(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('connection closed'));
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Resolves when the server closed the connection. */
  async waitClosed(): Promise<void> {
    while (!this.closed) await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  /** Bytes received and not yet taken by `response`. */
  get pending(): Buffer {
    return this.#buffer;
  }

  /** Reads one response; `head` true for a HEAD request (no body despite Content-Length). */
  async response(
    head = false,
  ): Promise<{ status: number; headers: Record<string, string>; body: Buffer; raw: string }> {
    let end = this.#buffer.indexOf('\r\n\r\n');
    while (end < 0) {
      await this.#more();
      end = this.#buffer.indexOf('\r\n\r\n');
    }
    const headText = this.#buffer.subarray(0, end).toString('latin1');
    const lines = headText.split('\r\n');
    const status = Number(lines[0]!.split(' ')[1]);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length =
      head || status === 304 || status < 200 ? 0 : Number(headers['content-length'] ?? 0);
    while (this.#buffer.length < end + 4 + length) await this.#more();
    const body = this.#buffer.subarray(end + 4, end + 4 + length);
    this.#buffer = this.#buffer.subarray(end + 4 + length);
    return { status, headers, body, raw: headText };
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** The status code of the first response in `bytes`. */
export function statusOf(bytes: Buffer): number {
  return Number(bytes.toString('latin1').split('\r\n')[0]!.split(' ')[1]);
}

/** Waits (bounded) until `check` is true, re-testing every 10 ms. */
export async function until(check: () => boolean, what: string, limitMs = 8000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Resolves once every path was last changed longer ago than the racy
 * window (see isRacy), so the file cache takes them.
 */
export async function aged(...paths: string[]): Promise<void> {
  const newest = Math.max(
    ...paths.map((path) => {
      const st = statSync(path);
      return Math.max(st.mtimeMs, st.ctimeMs);
    }),
  );
  const wait = newest + RACY_WINDOW_MS + 20 - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}
