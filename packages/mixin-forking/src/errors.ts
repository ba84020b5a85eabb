/**
 * Errors of the forking mix-in. Each is a `SocketServerError` with a stable
 * `code`, given to the server's `handleError` for the request it concerns.
 *
 * @module
 */
import { type Address, formatAddress, SocketServerError } from '@socketserver/core';

/**
 * A child process ended (exit, uncaught error outside the handler, signal)
 * while it was handling a request, or before it could take it. The request's
 * connection is closed; the pool replaces the child for later requests.
 * `cause` holds the child's uncaught error when it reported one.
 */
export class ChildExitedError extends SocketServerError {
  /**
   * @param pid - the child's process id.
   * @param exitCode - its exit code, or `null` when a signal ended it.
   * @param signal - the signal that ended it, or `null`.
   * @param clientAddress - the peer of the request it was handling.
   * @param options.ready - whether the child had started (false: it died while starting).
   * @param options.cause - the uncaught error the child reported before dying, if any.
   */
  constructor(
    readonly pid: number | undefined,
    readonly exitCode: number | null,
    readonly signal: NodeJS.Signals | null,
    clientAddress: Address | null,
    options: { ready?: boolean; cause?: Error } = {},
  ) {
    const how = signal !== null ? `was killed by ${signal}` : `exited with code ${exitCode}`;
    const when =
      options.ready === false ? 'while starting, before it could take' : 'while handling';
    let why = '';
    if (options.cause && options.ready === false) why = `: ${options.cause.message}`;
    else if (options.cause) {
      why = ` after an uncaught ${options.cause.name} outside the handler: ${options.cause.message}`;
    }
    super(
      'ERR_SOCKETSERVER_CHILD_EXITED',
      `child process ${pid ?? '(not started)'} ${how} ${when} the request from ${formatAddress(clientAddress)}${why}`,
      options.cause ? { cause: options.cause } : undefined,
    );
  }
}

/**
 * A connection could not be handed to a child process: the IPC channel
 * failed, the child did not receive the socket, or the connection closed
 * before the hand-off. The connection is closed.
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
