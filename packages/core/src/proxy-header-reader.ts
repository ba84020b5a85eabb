/**
 * Reads the PROXY header from the start of a connection, within a deadline,
 * and leaves the bytes after it to be read by whoever comes next (a TLS
 * handshake or the handler).
 *
 * Every connection of a PROXY server goes through here, so the reading
 * costs little: the socket's listeners and the deadline's callback are
 * shared functions (the state hangs off the socket, as `rfile`'s does), and
 * no promise is made on the way. (Node keeps timers of one duration in one
 * list under one timer, so a timer each is cheap, and it is unlinked as
 * soon as it is cleared: a queue of our own that dropped cancelled deadlines
 * later kept every connection reachable for the whole timeout and cost more
 * in garbage collection than it saved.)
 *
 * @module
 */
import type { Duplex } from 'node:stream';
import { type ProxyHeader, ProxyProtocolError, parseProxyHeader } from './proxy-protocol.js';

/** Default of `proxyHeaderTimeout`: how long a peer has to send its whole header, in ms. */
export const DEFAULT_PROXY_HEADER_TIMEOUT = 5_000;

const EMPTY: Buffer = Buffer.alloc(0);

/** Who hears the outcome of {@link readHeader}. */
export interface HeaderReceiver {
  /**
   * The header; `null` when the peer closed before sending a byte (a TCP
   * health check: nothing to report). Called once.
   */
  headerRead(header: ProxyHeader | null): void;
  /** The header was refused ({@link ProxyProtocolError}). Called once, instead. */
  headerFailed(error: ProxyProtocolError): void;
}

/** A header being read: what the socket's shared listeners need. */
interface Reading {
  socket: ReadingSocket;
  receiver: HeaderReceiver;
  received: Buffer;
  timeout: number;
  timer: NodeJS.Timeout;
}

const kReading = Symbol('socketserver.proxyHeader');
type ReadingSocket = Duplex & { [kReading]?: Reading | undefined };

/**
 * Reads and parses the PROXY header at the start of `socket`, then tells
 * `receiver`: the header, `null` (closed without a byte), or a
 * {@link ProxyProtocolError} — `malformed` as soon as the bytes cannot be a
 * header, `truncated` when the peer ended in the middle of one, `timeout`
 * when the whole header took longer than `timeout` ms (a deadline for the
 * header, not an idle limit: a byte now and then does not extend it).
 *
 * On success the socket is paused again, with the bytes that followed the
 * header put back in front of its stream.
 */
export function readHeader(socket: Duplex, timeout: number, receiver: HeaderReceiver): void {
  const target = socket as ReadingSocket;
  const reading: Reading = {
    socket: target,
    receiver,
    received: EMPTY,
    timeout,
    timer: null as never,
  };
  reading.timer = setTimeout(onDeadline, timeout, reading);
  target[kReading] = reading;
  socket.on('data', onData);
  socket.on('end', onEnd);
  socket.on('close', onEnd);
  socket.resume();
}

/** Stops reading: listeners off, deadline cancelled, the socket paused. */
function stop(socket: ReadingSocket, reading: Reading): void {
  socket[kReading] = undefined;
  clearTimeout(reading.timer);
  socket.pause();
  socket.off('data', onData);
  socket.off('end', onEnd);
  socket.off('close', onEnd);
}

// Flowing mode ('data'), paused again as soon as the header is complete: cheaper than 'readable'.
function onData(this: ReadingSocket, chunk: Buffer): void {
  const reading = this[kReading];
  if (reading === undefined) return;
  const received = reading.received.length === 0 ? chunk : Buffer.concat([reading.received, chunk]);
  reading.received = received;
  let parsed: ReturnType<typeof parseProxyHeader>;
  try {
    parsed = parseProxyHeader(received);
  } catch (error) {
    stop(this, reading);
    reading.receiver.headerFailed(error as ProxyProtocolError);
    return;
  }
  if (parsed === null) return;
  stop(this, reading);
  if (parsed.length < received.length) this.unshift(received.subarray(parsed.length));
  reading.receiver.headerRead(parsed.header);
}

function onEnd(this: ReadingSocket): void {
  const reading = this[kReading];
  if (reading === undefined) return;
  stop(this, reading);
  const n = reading.received.length;
  if (n === 0) reading.receiver.headerRead(null);
  else {
    reading.receiver.headerFailed(
      new ProxyProtocolError('truncated', `the peer closed after ${n} bytes of a header`),
    );
  }
}

function onDeadline(reading: Reading): void {
  const socket = reading.socket;
  if (socket[kReading] !== reading) return;
  stop(socket, reading);
  reading.receiver.headerFailed(
    new ProxyProtocolError(
      'timeout',
      `no complete header within ${reading.timeout} ms (${reading.received.length} bytes received)`,
    ),
  );
}

/**
 * {@link readHeader} as a promise, with a deadline of `timeout` ms: resolves
 * with the header or `null`, rejects with {@link ProxyProtocolError}.
 */
export function readProxyHeader(socket: Duplex, timeout: number): Promise<ProxyHeader | null> {
  return new Promise((resolve, reject) => {
    readHeader(socket, timeout, { headerRead: resolve, headerFailed: reject });
  });
}
