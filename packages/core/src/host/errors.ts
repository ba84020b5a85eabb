/**
 * Errors of the host layer: what `handleError` receives when a request in a
 * worker thread or child process could not complete for a reason outside
 * its handler.
 *
 * @module
 */
import { formatAddress } from '../base-server.js';
import { SocketServerError } from '../errors.js';
import type { Address } from '../types.js';

/** What runs handlers: a worker thread or a child process. */
export type HostKind = 'thread' | 'process';

/** "worker thread 3", "child process 1234". */
export function hostLabel(kind: HostKind, id: number | undefined): string {
  return kind === 'thread'
    ? `worker thread ${id ?? '?'}`
    : `child process ${id ?? '(not started)'}`;
}

/**
 * A worker thread or child process ended (an uncaught error outside the
 * handlers, `process.exit()`, a signal, a crash) while it held the request,
 * or before it could take it. The connection is closed; later requests go
 * to the other hosts or a new one. `cause` is the host's uncaught error when
 * it reported one.
 */
export class HostExitedError extends SocketServerError {
  /**
   * @param hostKind - a worker thread or a child process.
   * @param hostId - its thread id or process id.
   * @param exitCode - its exit code, or `null` when a signal ended it.
   * @param signal - the signal that ended it, or `null`.
   * @param clientAddress - the peer of the request it held.
   * @param options.starting - it died while starting, before it could take the request.
   * @param options.cause - its uncaught error, if it reported one.
   */
  constructor(
    readonly hostKind: HostKind,
    readonly hostId: number | undefined,
    readonly exitCode: number | null,
    readonly signal: string | null,
    clientAddress: Address | null,
    options: { starting?: boolean; cause?: unknown } = {},
  ) {
    const how = signal !== null ? `was killed by ${signal}` : `exited with code ${exitCode}`;
    const when = options.starting ? 'while starting, before it could take' : 'while handling';
    const cause = options.cause as { name?: string; message?: string } | undefined;
    const why =
      cause === undefined
        ? ''
        : options.starting
          ? `: ${cause.message}`
          : ` after an uncaught ${cause.name ?? 'error'} outside the handler: ${cause.message}`;
    super(
      'ERR_SOCKETSERVER_HOST_EXITED',
      `${hostLabel(hostKind, hostId)} ${how} ${when} the request from ${formatAddress(clientAddress)}${why}`,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
  }
}

/**
 * A request ran longer than the server's `requestTimeLimit`: its connection
 * was closed, and its host was stopped when it did not let go of the
 * request at once (a handler that holds the CPU).
 */
export class RequestTimeLimitError extends SocketServerError {
  /** @param limit - the limit that elapsed, in ms. */
  constructor(readonly limit: number) {
    super('ERR_SOCKETSERVER_TIME_LIMIT', `request handler ran for more than ${limit} ms`);
  }
}

/**
 * A connection could not be handed to a child process: the IPC channel
 * failed, the child could not receive the descriptor, or the connection
 * closed before the hand-off. The connection is closed.
 */
export class HandoffError extends SocketServerError {
  /**
   * @param message - what went wrong.
   * @param options.cause - the underlying error, if any.
   */
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_SOCKETSERVER_HANDOFF', message, options);
  }
}
