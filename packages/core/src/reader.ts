/**
 * `rfile`: a buffered byte reader with Python's file semantics, over a
 * socket (stream handlers) or over one datagram (datagram handlers).
 *
 * @module
 */
import type { Socket } from 'node:net';
import { IncompleteReadError } from './errors.js';

const NEWLINE = 0x0a;
const EMPTY = Buffer.alloc(0);

/** Pauses and resumes the source of a {@link Reader}, for backpressure. */
export interface ReaderFlow {
  /** Stop delivering data: the reader holds enough. */
  pause(): void;
  /** Deliver data again: a read is waiting. */
  resume(): void;
}

/**
 * A buffered reader with the semantics of Python's binary files: a read
 * returns an empty buffer at end of stream, `readline` keeps the newline, a
 * short result only ever means end of stream. It holds at most about
 * `highWaterMark` bytes ahead of the reader (the source is paused past that).
 *
 * Reads are meant to be awaited one at a time, as in Python.
 */
export class Reader implements AsyncIterable<Buffer> {
  #chunks: Buffer[] = [];
  #length = 0;
  #scanned = 0;
  #ended = false;
  #error: Error | null = null;
  #wake: (() => void) | null = null;
  #flow: ReaderFlow | null;
  #highWaterMark: number;

  /**
   * @param options.flow - the source's pause/resume, if it has backpressure.
   * @param options.highWaterMark - bytes to hold before pausing the source (default 64 KiB).
   */
  constructor(options: { flow?: ReaderFlow; highWaterMark?: number } = {}) {
    this.#flow = options.flow ?? null;
    this.#highWaterMark = Math.max(1, options.highWaterMark ?? 64 * 1024);
  }

  /** A reader over fixed bytes, already at end of stream after them (a datagram's `rfile`). */
  static from(bytes: Uint8Array): Reader {
    const reader = new Reader();
    reader.push(bytes);
    reader.end();
    return reader;
  }

  /** Bytes buffered and not yet read. */
  get bufferedLength(): number {
    return this.#length;
  }

  /** True once the source ended (or failed) and every buffered byte was read. */
  get atEOF(): boolean {
    return (this.#ended || this.#error !== null) && this.#length === 0;
  }

  /** Adds bytes from the source. Used by the server; not for handlers. */
  push(chunk: Uint8Array): void {
    if (this.#ended || chunk.length === 0) return;
    this.#chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
    this.#length += chunk.length;
    if (this.#length >= this.#highWaterMark) this.#flow?.pause();
    this.#notify();
  }

  /** Marks end of stream. Used by the server; not for handlers. */
  end(): void {
    this.#ended = true;
    this.#notify();
  }

  /** Fails pending and later reads with `error`, once buffered bytes are read. */
  fail(error: Error): void {
    if (this.#error === null && !this.#ended) this.#error = error;
    this.#notify();
  }

  /**
   * Reads one line, up to and including `\n`. At end of stream returns what is
   * left (possibly without `\n`), then an empty buffer. With `limit >= 0`, at
   * most `limit` bytes are returned, even if no newline was seen.
   */
  async readline(limit = -1): Promise<Buffer> {
    for (;;) {
      const newline = this.#indexOfNewline();
      if (newline >= 0 && (limit < 0 || newline < limit)) return this.#take(newline + 1);
      if (limit >= 0 && this.#length >= limit) return this.#take(limit);
      if (this.#ended) return this.#take(this.#length);
      this.#throwIfFailed();
      await this.#more();
    }
  }

  /**
   * Reads `n` bytes, fewer only at end of stream. Without `n` (or with a
   * negative one) reads until end of stream.
   */
  async read(n = -1): Promise<Buffer> {
    if (n === 0) return EMPTY;
    for (;;) {
      if (n > 0 && this.#length >= n) return this.#take(n);
      if (this.#ended) return this.#take(this.#length);
      this.#throwIfFailed();
      await this.#more();
    }
  }

  /** Reads exactly `n` bytes; rejects with {@link IncompleteReadError} at an earlier end of stream. */
  async readExactly(n: number): Promise<Buffer> {
    const bytes = await this.read(n);
    if (bytes.length < n) throw new IncompleteReadError(bytes, n);
    return bytes;
  }

  /** Reads every line until end of stream (Python's `for line in rfile`). */
  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    // A plain iterator, not an `async *` generator: one promise hop less per line.
    return {
      next: () => this.readline().then(lineResult),
      return: () => Promise.resolve({ done: true as const, value: undefined }),
    };
  }

  /** Takes every buffered byte out of the reader, for handing the connection elsewhere. */
  takeBuffered(): Buffer {
    return this.#take(this.#length);
  }

  #throwIfFailed(): void {
    if (this.#error !== null) throw this.#error;
  }

  #more(): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = resolve;
      this.#flow?.resume();
    });
  }

  #notify(): void {
    const wake = this.#wake;
    if (wake !== null) {
      this.#wake = null;
      wake();
    }
  }

  #indexOfNewline(): number {
    let offset = 0;
    for (const chunk of this.#chunks) {
      if (offset + chunk.length > this.#scanned) {
        const index = chunk.indexOf(NEWLINE, Math.max(0, this.#scanned - offset));
        if (index >= 0) return offset + index;
      }
      offset += chunk.length;
    }
    this.#scanned = offset;
    return -1;
  }

  #take(n: number): Buffer {
    if (n === 0) return EMPTY;
    this.#length -= n;
    this.#scanned = Math.max(0, this.#scanned - n);
    const first = this.#chunks[0]!;
    if (first.length > n) {
      this.#chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    if (first.length === n) {
      this.#chunks.shift();
      return first;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.#chunks[0]!;
      const count = Math.min(chunk.length, n - filled);
      chunk.copy(out, filled, 0, count);
      filled += count;
      if (count === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(count);
    }
    return out;
  }
}

/**
 * Connects a {@link Reader} to a socket: data, end of stream and errors flow
 * in, and the socket is paused while the reader holds `highWaterMark` bytes.
 * Returns a function that detaches the reader from the socket.
 */
export function attachReader(reader: Reader, socket: Socket): () => void {
  const onData = (chunk: Buffer) => reader.push(chunk);
  const onEnd = () => reader.end();
  const onError = (error: Error) => reader.fail(error);
  // 'close' follows 'error'; the error is kept in `socket.errored`.
  const onClose = () => reader.fail(socket.errored ?? connectionClosed());
  socket.on('data', onData);
  socket.on('end', onEnd);
  socket.on('error', onError);
  socket.on('close', onClose);
  // A connection may have failed while it waited in the queue: its events are past.
  if (socket.destroyed) onClose();
  return () => {
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('error', onError);
    socket.off('close', onClose);
  };
}

function lineResult(line: Buffer): IteratorResult<Buffer> {
  return line.length === 0 ? { done: true, value: undefined } : { done: false, value: line };
}

function connectionClosed(): Error {
  return Object.assign(new Error('the connection was closed before end of stream'), {
    code: 'ECONNRESET',
  });
}
