/**
 * Reads the PROXY header from the start of a connection, within a deadline,
 * and leaves the bytes after it to be read by whoever comes next (a TLS
 * handshake or the handler).
 *
 * Every connection of a PROXY server goes through here, so the reading
 * allocates little (the cost that showed, as garbage collection): the
 * socket's listeners are shared functions, the state is the caller's own
 * object (hanging off the socket, as `rfile`'s does), and the deadlines of
 * a server are checked by one sweeping timer ({@link HeaderDeadlines})
 * rather than a timer each. No promise is made on the way.
 *
 * @module
 */
import type { Duplex } from 'node:stream';
import { type ProxyHeader, ProxyProtocolError, parseProxyHeader } from './proxy-protocol.js';

/** Default of `proxyHeaderTimeout`: how long a peer has to send its whole header, in ms. */
export const DEFAULT_PROXY_HEADER_TIMEOUT = 5_000;

const EMPTY: Buffer = Buffer.alloc(0);

/**
 * A header being read, and who hears the outcome: the caller's object,
 * which {@link readHeader} fills in.
 */
export interface HeaderRead {
  /** The connection. */
  readonly socket: Duplex;
  /** The bytes received so far (set by {@link readHeader}). */
  received: Buffer;
  /** When reading began (`performance.now()`, set by {@link readHeader}). */
  startedAt: number;
  /** The deadlines that watch it (set by {@link readHeader}). */
  deadlines: HeaderDeadlines | null;
  /**
   * The header; `null` when the peer closed before sending a byte (a TCP
   * health check: nothing to report). Called once.
   */
  headerRead(header: ProxyHeader | null): void;
  /** The header was refused ({@link ProxyProtocolError}). Called once, instead. */
  headerFailed(error: ProxyProtocolError): void;
}

/**
 * The deadlines of the headers being read on one server: one unref'd timer
 * wakes every quarter of `ms` and refuses those past it, so a header is
 * refused between `ms` and `1.25 * ms` after its connection began. The timer
 * stops when a sweep finds nothing to watch.
 */
export class HeaderDeadlines {
  /** How long a peer has to send its whole header, in ms. */
  readonly ms: number;
  readonly #reading = new Set<HeaderRead>();
  #timer: NodeJS.Timeout | null = null;

  /** @param ms - the deadline. */
  constructor(ms: number) {
    this.ms = ms;
  }

  /** Watches a header being read. */
  add(read: HeaderRead): void {
    this.#reading.add(read);
    if (this.#timer !== null) return;
    this.#timer = setInterval(() => this.#sweep(), Math.max(1, this.ms / 4));
    this.#timer.unref();
  }

  /** Stops watching it (read, refused, or closed). */
  delete(read: HeaderRead): void {
    this.#reading.delete(read);
  }

  #sweep(): void {
    if (this.#reading.size === 0) {
      clearInterval(this.#timer!);
      this.#timer = null;
      return;
    }
    const now = performance.now();
    for (const read of this.#reading) {
      if (now - read.startedAt >= this.ms) expire(read, this);
    }
  }
}

const kRead = Symbol('socketserver.proxyHeader');
type ReadingSocket = Duplex & { [kRead]?: HeaderRead | undefined };
type Reading = HeaderRead;

/**
 * Reads and parses the PROXY header at the start of `read.socket`, then
 * calls `read.headerRead` (the header, or `null`: closed without a byte) or
 * `read.headerFailed` with a {@link ProxyProtocolError}: `malformed` as soon
 * as the bytes cannot be a header, `truncated` when the peer ended in the
 * middle of one, `timeout` when the whole header took longer than
 * `deadlines.ms` (a deadline for the header, not an idle limit: a byte now
 * and then does not extend it).
 *
 * On success the socket is paused again, with the bytes that followed the
 * header put back in front of its stream.
 */
export function readHeader(read: HeaderRead, deadlines: HeaderDeadlines): void {
  const socket = read.socket as ReadingSocket;
  const reading = read as Reading;
  reading.received = EMPTY;
  reading.startedAt = performance.now();
  reading.deadlines = deadlines;
  deadlines.add(reading);
  socket[kRead] = reading;
  socket.on('data', onData);
  socket.on('end', onEnd);
  socket.on('close', onEnd);
  socket.resume();
}

/** Stops reading: listeners off, deadline dropped, the socket paused. */
function stop(socket: ReadingSocket, reading: Reading): void {
  socket[kRead] = undefined;
  reading.deadlines?.delete(reading);
  socket.pause();
  socket.off('data', onData);
  socket.off('end', onEnd);
  socket.off('close', onEnd);
}

// Flowing mode ('data'), paused again as soon as the header is complete: cheaper than 'readable'.
function onData(this: ReadingSocket, chunk: Buffer): void {
  const reading = this[kRead];
  if (reading === undefined) return;
  const received = reading.received.length === 0 ? chunk : Buffer.concat([reading.received, chunk]);
  reading.received = received;
  let parsed: ReturnType<typeof parseProxyHeader>;
  try {
    parsed = parseProxyHeader(received);
  } catch (error) {
    stop(this, reading);
    reading.headerFailed(error as ProxyProtocolError);
    return;
  }
  if (parsed === null) return;
  stop(this, reading);
  if (parsed.length < received.length) this.unshift(received.subarray(parsed.length));
  reading.headerRead(parsed.header);
}

function onEnd(this: ReadingSocket): void {
  const reading = this[kRead];
  if (reading === undefined) return;
  stop(this, reading);
  const n = reading.received.length;
  if (n === 0) reading.headerRead(null);
  else {
    reading.headerFailed(
      new ProxyProtocolError('truncated', `the peer closed after ${n} bytes of a header`),
    );
  }
}

function expire(reading: Reading, deadlines: HeaderDeadlines): void {
  const socket = reading.socket as ReadingSocket;
  if (socket[kRead] !== reading) return;
  stop(socket, reading);
  reading.headerFailed(
    new ProxyProtocolError(
      'timeout',
      `no complete header within ${deadlines.ms} ms (${reading.received.length} bytes received)`,
    ),
  );
}

/**
 * {@link readHeader} as a promise, with a deadline of `timeout` ms (checked
 * every quarter of it): resolves with the header or `null`, rejects with
 * {@link ProxyProtocolError}.
 */
export function readProxyHeader(socket: Duplex, timeout: number): Promise<ProxyHeader | null> {
  return new Promise((resolve, reject) => {
    const read: HeaderRead = {
      socket,
      received: EMPTY,
      startedAt: 0,
      deadlines: null,
      headerRead: resolve,
      headerFailed: reject,
    };
    readHeader(read, new HeaderDeadlines(timeout));
  });
}
