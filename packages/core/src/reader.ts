/**
 * `rfile`: a buffered byte reader with Python's file semantics, over a
 * socket (stream handlers) or over one datagram (datagram handlers).
 *
 * @module
 */
import type { Socket } from 'node:net';
import { IncompleteReadError, InvalidArgumentError } from './errors.js';

const NEWLINE = 0x0a;
const EMPTY = Buffer.alloc(0);
const LINE = 0;
const BYTES = 1;
type ReadKind = typeof LINE | typeof BYTES;

/** The read a handler is waiting for. */
interface PendingRead {
  kind: ReadKind;
  /** LINE: the limit (-1 none); BYTES: the count (-1 all). */
  n: number;
  /** Resolve with an iterator result rather than the bytes. */
  asResult: boolean;
  resolve(value: Buffer | IteratorResult<Buffer>): void;
  reject(error: unknown): void;
}

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
 * Reads are awaited one at a time, as in Python: a read started while
 * another is pending rejects with `ERR_SOCKETSERVER_INVALID_ARGUMENT`.
 */
export class Reader implements AsyncIterable<Buffer> {
  #chunks: Buffer[] = [];
  #length = 0;
  #scanned = 0;
  #ended = false;
  #error: Error | null = null;
  #pending: PendingRead | null = null;
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
    // One exact-size array: a datagram request should not allocate a growable chunk list.
    if (bytes.length > 0) reader.#chunks = [Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes)];
    reader.#length = bytes.length;
    reader.#ended = true;
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
  readline(limit = -1): Promise<Buffer> {
    return this.#request(LINE, limit, false) as Promise<Buffer>;
  }

  /**
   * Reads `n` bytes, fewer only at end of stream. Without `n` (or with a
   * negative one) reads until end of stream.
   */
  read(n = -1): Promise<Buffer> {
    if (n === 0) return Promise.resolve(EMPTY);
    return this.#request(BYTES, n, false) as Promise<Buffer>;
  }

  /** Reads exactly `n` bytes; rejects with {@link IncompleteReadError} at an earlier end of stream. */
  async readExactly(n: number): Promise<Buffer> {
    const bytes = await this.read(n);
    if (bytes.length < n) throw new IncompleteReadError(bytes, n);
    return bytes;
  }

  /** Reads every line until end of stream (Python's `for line in rfile`). */
  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    return new LineIterator(this);
  }

  /** The next line as an iterator result, resolved straight from `push`. For {@link LineIterator}. */
  nextLine(): Promise<IteratorResult<Buffer>> {
    return this.#request(LINE, -1, true) as Promise<IteratorResult<Buffer>>;
  }

  /** Takes every buffered byte out of the reader, for handing the connection elsewhere. */
  takeBuffered(): Buffer {
    return this.#take(this.#length);
  }

  /**
   * Serves a read at once when the buffer allows, otherwise records it as the
   * pending read, which `push`, `end` and `fail` complete: one promise per
   * read, resolved directly with its result.
   */
  #request(kind: ReadKind, n: number, asResult: boolean): Promise<Buffer | IteratorResult<Buffer>> {
    if (this.#pending !== null) {
      return Promise.reject(
        new InvalidArgumentError('rfile: a read is still pending; await each read before the next'),
      );
    }
    try {
      const bytes = this.#attempt(kind, n);
      if (bytes !== null) return Promise.resolve(asResult ? lineResult(bytes) : bytes);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise((resolve, reject) => {
      this.#pending = { kind, n, asResult, resolve, reject };
      this.#flow?.resume();
    });
  }

  /** The result of a read if the buffer can give it now, else null; throws a failure once drained. */
  #attempt(kind: ReadKind, n: number): Buffer | null {
    if (kind === LINE) {
      const newline = this.#indexOfNewline();
      if (newline >= 0 && (n < 0 || newline < n)) return this.#take(newline + 1);
      if (n >= 0 && this.#length >= n) return this.#take(n);
    } else if (n > 0 && this.#length >= n) {
      return this.#take(n);
    }
    if (this.#ended) return this.#take(this.#length);
    if (this.#error !== null) throw this.#error;
    return null;
  }

  #notify(): void {
    const pending = this.#pending;
    if (pending === null) return;
    let bytes: Buffer | null;
    try {
      bytes = this.#attempt(pending.kind, pending.n);
    } catch (error) {
      this.#pending = null;
      pending.reject(error);
      return;
    }
    if (bytes === null) {
      // The waiting read needs more than the high-water mark allowed: keep the source flowing.
      this.#flow?.resume();
      return;
    }
    this.#pending = null;
    pending.resolve(pending.asResult ? lineResult(bytes) : bytes);
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
 * `for await (const line of rfile)`: a plain iterator whose results are
 * resolved straight from `push` (no promise hop, no closure per connection).
 */
class LineIterator implements AsyncIterator<Buffer> {
  readonly #reader: Reader;

  constructor(reader: Reader) {
    this.#reader = reader;
  }

  next(): Promise<IteratorResult<Buffer>> {
    return this.#reader.nextLine();
  }

  return(): Promise<IteratorResult<Buffer>> {
    return Promise.resolve({ done: true, value: undefined });
  }
}

/**
 * Connects a {@link Reader} to a socket: data, end of stream and errors flow
 * in, and the socket is paused while the reader holds `highWaterMark` bytes.
 * Returns a function that detaches the reader from the socket.
 */
export function attachReader(reader: Reader, socket: Socket): () => void {
  connectReader(reader, socket);
  return () => disconnectReader(reader, socket);
}

/**
 * {@link attachReader} without a detach closure: `disconnectReader(reader,
 * socket)` undoes it. The `'error'` listener is added only when the socket
 * has none (`'close'` follows an error, and `socket.errored` holds it).
 * @internal
 */
export function connectReader(reader: Reader, socket: Socket): void {
  const target = socket as ReaderSocket;
  target[kReader] = reader;
  // Listeners shared by every connection (the reader hangs off the socket): no closures per connection.
  socket.on('data', onReaderData);
  socket.on('end', onReaderEnd);
  if (socket.listenerCount('error') === 0) socket.on('error', onReaderError);
  socket.on('close', onReaderClose);
  // A connection may have failed while it waited in the queue: its events are past.
  if (socket.destroyed) onReaderClose.call(target);
}

/** Undoes {@link connectReader}. @internal */
export function disconnectReader(reader: Reader, socket: Socket): void {
  const target = socket as ReaderSocket;
  if (target[kReader] !== reader) return;
  target[kReader] = undefined;
  socket.off('data', onReaderData);
  socket.off('end', onReaderEnd);
  socket.off('error', onReaderError);
  socket.off('close', onReaderClose);
}

const kReader = Symbol('socketserver.reader');

/** A socket with an attached reader. */
type ReaderSocket = Socket & { [kReader]?: Reader | undefined };

function onReaderData(this: ReaderSocket, chunk: Buffer): void {
  this[kReader]?.push(chunk);
}

function onReaderEnd(this: ReaderSocket): void {
  this[kReader]?.end();
}

function onReaderError(this: ReaderSocket, error: Error): void {
  this[kReader]?.fail(error);
}

// 'close' follows 'error'; the error is kept in `socket.errored`.
function onReaderClose(this: ReaderSocket): void {
  this[kReader]?.fail(this.errored ?? connectionClosed());
}

function lineResult(line: Buffer): IteratorResult<Buffer> {
  return line.length === 0 ? { done: true, value: undefined } : { done: false, value: line };
}

function connectionClosed(): Error {
  return Object.assign(new Error('the connection was closed before end of stream'), {
    code: 'ECONNRESET',
  });
}
