/**
 * `ResponseWriter`: the `wfile` of an HTTP handler. Every byte of a
 * response goes through it: it batches writes per turn of the event loop,
 * counts what was written, and tells the connection's timers that bytes
 * wait to be sent.
 *
 * @module
 */
import type { Socket } from 'node:net';
import { SocketWriter } from '@socketserver/core';

/**
 * Sockets corked by a {@link ResponseWriter} in this turn of the event loop.
 *
 * Speed: the first write of a turn corks its socket, and every corked socket
 * is uncorked in one `setImmediate` once the turn's I/O callbacks are done.
 * Responses to requests that arrived together leave together: one system
 * call per connection per turn instead of one per response, and fewer
 * wake-ups of the peer (about 1.7x requests per second for small cached
 * files, together with the file cache). A response waits at most until the
 * end of the turn that produced it. The file cache relies on this: see
 * `FileCache.lookup`.
 */
let corked: Socket[] = [];

function uncorkAll(): void {
  const sockets = corked;
  corked = [];
  for (const socket of sockets) {
    while (socket.writableCorked > 0) socket.uncork();
  }
}

function corkForThisTurn(socket: Socket): void {
  if (socket.writableCorked || socket.destroyed) return;
  socket.cork();
  corked.push(socket);
  if (corked.length === 1) setImmediate(uncorkAll);
}

const EMPTY = Buffer.alloc(0);

/**
 * Destroys a connection once what was written to it has been handed to the
 * kernel (a response held by the cork must not be lost); at once when
 * nothing is pending. A peer that does not read is cut off by the send timer.
 */
export function destroyWhenWritten(socket: Socket): void {
  if (socket.destroyed || socket.writableEnded) return;
  if (socket.writableLength === 0) {
    socket.destroy();
    return;
  }
  while (socket.writableCorked > 0) socket.uncork();
  socket.write(EMPTY, () => socket.destroy());
}

/**
 * A `wfile` that batches writes per turn of the event loop (see
 * {@link corked}), counts the bytes written, and calls `onWrite` after each
 * write. Backpressure is core's: `write` resolves once no more than
 * `highWaterMark` bytes wait (Python's `wbufsize`).
 */
export class ResponseWriter extends SocketWriter {
  /** Bytes accepted by `write` so far on this connection. */
  written = 0;
  readonly #socket: Socket;
  readonly #onWrite: () => void;

  /**
   * @param socket - the connection.
   * @param options.highWaterMark - unsent bytes allowed before `write` waits.
   * @param options.onWrite - called after each write (the send timer).
   */
  constructor(socket: Socket, options: { highWaterMark: number; onWrite: () => void }) {
    super(socket, { highWaterMark: options.highWaterMark });
    this.#socket = socket;
    this.#onWrite = options.onWrite;
  }

  override write(data: string | Uint8Array): Promise<void> {
    corkForThisTurn(this.#socket);
    this.written += typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    const accepted = super.write(data);
    this.#onWrite();
    return accepted;
  }

  /**
   * Writes `chunk` and resolves once it has been handed to the kernel, or
   * the connection failed (check `destroyed`): its buffer may then be
   * reused. For streaming through a few reused buffers; not batched.
   */
  writeChunk(chunk: Uint8Array): Promise<void> {
    this.written += chunk.length;
    const released = new Promise<void>((resolve) => this.#socket.write(chunk, () => resolve()));
    this.#onWrite();
    return released;
  }
}
