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

const EMPTY = Buffer.alloc(0);
const DONE: Promise<void> = Promise.resolve();

/**
 * The `wfile` of a stream handler. `write` resolves at once while the socket
 * holds no more than `highWaterMark` unsent bytes (Python's `wbufsize`; 0, the
 * default, means while the kernel takes everything), and otherwise when the
 * socket's backlog has been handed to the kernel. A handler that awaits its
 * writes therefore never makes memory grow faster than the peer reads.
 * Writes reject once the connection is closed or has failed.
 */
export class SocketWriter implements Writer {
  #socket: Socket;
  #highWaterMark: number;
  #flushed: Promise<void> | null = null;
  /**
   * Set once a write did not complete at once (a TLS socket's never do): from
   * then on each write carries a callback, so that waiting for the backlog
   * is waiting for the last write, not one more write. An empty write costs a
   * TLS socket a pass through OpenSSL; this saved about a third of the
   * server's CPU per round trip on a kept TLS echo (bench `tls` rows).
   */
  #tracked = false;
  /** Tracked writes not yet complete. */
  #pending = 0;
  #settle: ((error: Error | null | undefined) => void) | null = null;
  readonly #afterWrite = (error?: Error | null): void => {
    this.#pending--;
    if (this.#settle !== null && (error || this.#pending === 0)) this.#settle(error);
  };

  /**
   * @param socket - the connection.
   * @param options.highWaterMark - unsent bytes allowed before `write` waits (default 0).
   */
  constructor(socket: Socket, options: { highWaterMark?: number } = {}) {
    this.#socket = socket;
    this.#highWaterMark = Math.max(0, options.highWaterMark ?? 0);
  }

  /** Unsent bytes held in user space for this connection. */
  get bufferedLength(): number {
    return this.#socket.writableLength;
  }

  write(data: string | Uint8Array): Promise<void> {
    const socket = this.#socket;
    const failure = writeFailure(socket);
    if (failure !== null) return Promise.reject(failure);
    if (this.#tracked) {
      this.#pending++;
      socket.write(data, this.#afterWrite);
    } else {
      socket.write(data);
    }
    return socket.writableLength <= this.#highWaterMark ? DONE : this.#whenFlushed();
  }

  flush(): Promise<void> {
    const socket = this.#socket;
    if (hasFailed(socket)) return Promise.reject(socket.errored);
    if (socket.writableEnded) return socket.writableFinished ? DONE : finished(socket);
    return socket.writableLength === 0 ? DONE : this.#whenFlushed();
  }

  /** Resolves when every byte written so far has been handed to the kernel. */
  #whenFlushed(): Promise<void> {
    if (this.#flushed !== null) return this.#flushed;
    const socket = this.#socket;
    this.#flushed = new Promise<void>((resolve, reject) => {
      const settle = (error: Error | null | undefined) => {
        this.#flushed = null;
        this.#settle = null;
        if (error) reject(socket.errored ?? error);
        else resolve();
      };
      if (this.#tracked && this.#pending > 0) {
        // Writes complete in order: the last tracked write completes after all before it.
        this.#settle = settle;
        return;
      }
      this.#tracked = true;
      // Writes complete in order: an empty write's callback runs after all before it.
      socket.write(EMPTY, settle);
    });
    return this.#flushed;
  }
}

/**
 * Whether the socket failed on its own (a reset, a timeout). `ECANCELED` is
 * not such a failure: Node 22 and later report it for writes that were still
 * queued when the socket was destroyed here, which is a plain close.
 */
function hasFailed(socket: Socket): boolean {
  const error = socket.errored as NodeJS.ErrnoException | null;
  return error !== null && error.code !== 'ECANCELED';
}

/** Why nothing more can be written: the socket's own error, a close, or nothing (null). */
function writeFailure(socket: Socket): Error | null {
  if (hasFailed(socket)) return socket.errored;
  if (socket.destroyed || socket.writableEnded) return new ClosedError('the connection');
  return null;
}

/** Resolves when an ended socket has flushed everything, rejects if it closes first. */
function finished(socket: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    const onFinish = () => {
      socket.off('close', onClose);
      resolve();
    };
    const onClose = () => {
      socket.off('finish', onFinish);
      reject(new ClosedError('the connection'));
    };
    socket.once('finish', onFinish);
    socket.once('close', onClose);
  });
}

/** The `wfile` of a datagram handler: collects what is written, sent as one datagram after `finish`. */
export class BufferWriter implements Writer {
  // The usual reply is one write: kept in a field, a list only from the second write on.
  #first: Buffer | null = null;
  #rest: Buffer[] | null = null;

  write(data: string | Uint8Array): Promise<void> {
    // A copy: the caller may reuse its buffer before the reply is sent.
    const chunk = Buffer.from(data as Uint8Array);
    if (this.#first === null) this.#first = chunk;
    else if (this.#rest === null) this.#rest = [chunk];
    else this.#rest.push(chunk);
    return DONE;
  }

  flush(): Promise<void> {
    return DONE;
  }

  /** Everything written so far (Python's `BytesIO.getvalue()`). */
  getValue(): Buffer {
    if (this.#first === null) return EMPTY;
    return this.#rest === null ? this.#first : Buffer.concat([this.#first, ...this.#rest]);
  }
}
