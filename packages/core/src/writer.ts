/**
 * `wfile`: a writer with backpressure over a socket (stream handlers), or
 * an in-memory collector (datagram handlers).
 *
 * @module
 */
import type { Socket } from 'node:net';
import { ClosedError } from './errors.js';

/** What `wfile` offers a handler, whatever the transport. */
export interface Writer {
  /** Writes bytes (strings are UTF-8). Resolves when the data is accepted. */
  write(data: string | Uint8Array): Promise<void>;
  /** Resolves when everything written so far has left the writer. */
  flush(): Promise<void>;
}

type Waiter = { resolve: () => void; reject: (error: Error) => void };

/**
 * The `wfile` of a stream handler. `write` resolves once the socket holds no
 * more than `highWaterMark` unsent bytes (Python's `wbufsize`; 0, the default,
 * means a write resolves when the kernel has taken it), so a handler that
 * awaits its writes never makes memory grow faster than the peer reads.
 * It rejects if the connection is closed or fails.
 */
export class SocketWriter implements Writer {
  #socket: Socket;
  #highWaterMark: number;
  #pending = 0;
  #waiters: Waiter[] = [];
  #flushers: Waiter[] = [];
  #error: Error | null = null;

  /**
   * @param socket - the connection.
   * @param options.highWaterMark - unsent bytes allowed before `write` waits (default 0).
   */
  constructor(socket: Socket, options: { highWaterMark?: number } = {}) {
    this.#socket = socket;
    this.#highWaterMark = Math.max(0, options.highWaterMark ?? 0);
    socket.on('drain', () => this.#release());
    socket.on('error', (error) => this.#fail(error));
    socket.on('close', () => this.#fail(new ClosedError('the connection')));
  }

  /** Unsent bytes held in user space for this connection. */
  get bufferedLength(): number {
    return this.#socket.writableLength;
  }

  write(data: string | Uint8Array): Promise<void> {
    if (this.#error !== null) return Promise.reject(this.#error);
    if (this.#socket.destroyed || this.#socket.writableEnded) {
      return Promise.reject(new ClosedError('the connection'));
    }
    this.#pending++;
    this.#socket.write(data, (error) => this.#written(error));
    if (this.#socket.writableLength <= this.#highWaterMark) return Promise.resolve();
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  flush(): Promise<void> {
    if (this.#error !== null) return Promise.reject(this.#error);
    if (this.#pending === 0) return Promise.resolve();
    return new Promise((resolve, reject) => this.#flushers.push({ resolve, reject }));
  }

  #written(error: Error | null | undefined): void {
    this.#pending--;
    if (error) {
      this.#fail(error);
      return;
    }
    this.#release();
    if (this.#pending === 0) settle(this.#flushers.splice(0));
  }

  #release(): void {
    if (this.#socket.writableLength <= this.#highWaterMark || this.#pending === 0) {
      settle(this.#waiters.splice(0));
    }
  }

  #fail(error: Error): void {
    if (this.#error !== null) return;
    this.#error = error;
    const waiters = this.#waiters.splice(0).concat(this.#flushers.splice(0));
    for (const waiter of waiters) waiter.reject(error);
  }
}

/** The `wfile` of a datagram handler: collects what is written, sent as one datagram after `finish`. */
export class BufferWriter implements Writer {
  #chunks: Buffer[] = [];

  write(data: string | Uint8Array): Promise<void> {
    this.#chunks.push(typeof data === 'string' ? Buffer.from(data) : Buffer.from(data));
    return Promise.resolve();
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }

  /** Everything written so far (Python's `BytesIO.getvalue()`). */
  getValue(): Buffer {
    return Buffer.concat(this.#chunks);
  }
}

function settle(waiters: Waiter[]): void {
  for (const waiter of waiters) waiter.resolve();
}
