/** Shared test helpers: a server on a temp directory, raw socket clients. */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFileServer, type FileServer, type FileServerOptions } from '../src/index.js';

export interface Running {
  server: FileServer;
  port: number;
  base: string;
  stop(): Promise<void>;
}

/** Starts a quiet file server on 127.0.0.1:0 serving `directory`. */
export async function start(options: FileServerOptions): Promise<Running> {
  const server = await createFileServer({ host: '127.0.0.1', port: 0, quiet: true, ...options });
  const serving = server.serveForever({ pollInterval: 50 });
  const port = (server.serverAddress as { port: number }).port;
  return {
    server,
    port,
    base: `http://127.0.0.1:${port}`,
    async stop() {
      await server.shutdown();
      await serving;
      server.closeIdleConnections();
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
 * Sends `data` on a new connection and collects every byte until the
 * server closes it (bounded: rejects after `limitMs`).
 */
export function raw(port: number, data: string | Buffer, limitMs = 8000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
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
    socket.write(data);
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

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => resolve(new RawClient(socket)));
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
    let length =
      head || status === 304 || status < 200 ? 0 : Number(headers['content-length'] ?? 0);
    while (this.#buffer.length < end + 4 + length) await this.#more();
    const body = this.#buffer.subarray(end + 4, end + 4 + length);
    this.#buffer = this.#buffer.subarray(end + 4 + length);
    length = 0;
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
