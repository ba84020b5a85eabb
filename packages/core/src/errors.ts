/**
 * The error hierarchy of @socketserver. Every error this project raises is a
 * {@link SocketServerError} with a stable string `code`; errors from the
 * operating system (`EADDRINUSE`, `ECONNRESET`, ...) pass through unchanged
 * with their own `code` and `syscall`.
 *
 * @module
 */

/** The stable codes carried by {@link SocketServerError}. */
export type SocketServerErrorCode =
  | 'ERR_SOCKETSERVER_INVALID_ARGUMENT'
  | 'ERR_SOCKETSERVER_CLOSED'
  | 'ERR_SOCKETSERVER_ALREADY_SERVING'
  | 'ERR_SOCKETSERVER_TIMEOUT'
  | 'ERR_SOCKETSERVER_INCOMPLETE_READ'
  | 'ERR_SOCKETSERVER_QUEUE_FULL'
  | 'ERR_SOCKETSERVER_UNSUPPORTED'
  | 'ERR_SOCKETSERVER_SERVER_IN_HANDLER_HOST'
  | 'ERR_SOCKETSERVER_HOST_EXITED'
  | 'ERR_SOCKETSERVER_TIME_LIMIT'
  | 'ERR_SOCKETSERVER_HANDOFF'
  | 'ERR_SOCKETSERVER_LOCK_NOT_HELD'
  | 'ERR_SOCKETSERVER_PROXY_PROTOCOL'
  | 'ERR_SOCKETSERVER_TLS_HANDSHAKE'
  | 'ERR_SOCKETSERVER_SOCKET_ACTIVATION'
  | (string & {});

/** Base class of every error raised by @socketserver. */
export class SocketServerError extends Error {
  /** A stable, documented identifier, for example `ERR_SOCKETSERVER_TIMEOUT`. */
  readonly code: SocketServerErrorCode;

  /**
   * @param code - the stable code.
   * @param message - a sentence for people.
   * @param options - `cause`, the underlying error, if any.
   */
  constructor(code: SocketServerErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** An argument or setting is invalid. Thrown at once, never asynchronously. */
export class InvalidArgumentError extends SocketServerError {
  /** @param message - what is wrong and what is expected. */
  constructor(message: string) {
    super('ERR_SOCKETSERVER_INVALID_ARGUMENT', message);
  }
}

/** A socket operation did not complete within the handler's `timeout` (Python's `socket.timeout`). */
export class TimeoutError extends SocketServerError {
  /** @param timeout - the limit that elapsed, in milliseconds. */
  constructor(readonly timeout: number) {
    super('ERR_SOCKETSERVER_TIMEOUT', `connection idle for more than ${timeout} ms`);
  }
}

/**
 * End of stream came before `readExactly(n)` had its bytes (Python's
 * `asyncio.IncompleteReadError`). `partial` holds what was read.
 */
export class IncompleteReadError extends SocketServerError {
  /**
   * @param partial - the bytes read before end of stream.
   * @param expected - how many bytes were asked for.
   */
  constructor(
    readonly partial: Buffer,
    readonly expected: number,
  ) {
    super(
      'ERR_SOCKETSERVER_INCOMPLETE_READ',
      `${partial.length} bytes read on a total of ${expected} expected bytes`,
    );
  }
}

/** The operation needs a socket that is open, but the server or connection is closed. */
export class ClosedError extends SocketServerError {
  /** @param what - what is closed, for the message. */
  constructor(what = 'the socket') {
    super('ERR_SOCKETSERVER_CLOSED', `${what} is closed`);
  }
}

/**
 * A request was refused because the server's queue was full: a connection
 * beyond `requestQueueSize`, or a datagram beyond `maxQueuedPackets`. It is
 * given to `handleError`; the peer sees its connection closed.
 */
export class QueueFullError extends SocketServerError {
  /** @param limit - the bound that was reached. */
  constructor(readonly limit: number) {
    super('ERR_SOCKETSERVER_QUEUE_FULL', `request queue full (${limit} waiting): request refused`);
  }
}

/** A feature that this Node.js version or platform cannot provide. */
export class UnsupportedError extends SocketServerError {
  /** @param message - what is missing and what would provide it. */
  constructor(message: string) {
    super('ERR_SOCKETSERVER_UNSUPPORTED', message);
  }
}
