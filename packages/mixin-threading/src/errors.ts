/**
 * Errors raised by `ThreadingMixIn`, and how errors cross from a worker
 * thread to the main thread with their stack.
 *
 * @module
 */
import { SocketServerError } from '@socketserver/core';

/**
 * A request ran longer than the server's `requestTimeLimit`: its worker was
 * terminated and replaced, and the request shut down.
 */
export class RequestTimeLimitError extends SocketServerError {
  /** @param limit - the limit that elapsed, in ms. */
  constructor(readonly limit: number) {
    super(
      'ERR_SOCKETSERVER_TIME_LIMIT',
      `request handler ran for more than ${limit} ms: its worker thread was terminated`,
    );
  }
}

/**
 * A worker thread stopped (crashed, or exited while starting) so the request
 * it held could not complete. The worker's own error, if any, is the `cause`.
 */
export class WorkerExitedError extends SocketServerError {
  /**
   * @param exitCode - the worker's exit code.
   * @param message - what happened.
   */
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super('ERR_SOCKETSERVER_WORKER_EXITED', message);
  }
}

/** An error as it crosses a `MessagePort`: its class name, message, stack and own fields. */
export interface SerializedError {
  /** The error's `name` (its class name for built-in and most user errors). */
  name: string;
  /** The error's `message`. */
  message: string;
  /** The stack as the worker recorded it. */
  stack?: string;
  /** The error's string `code`, if any. */
  code?: string;
  /** The error's other own fields that could be cloned. */
  props: Record<string, unknown>;
  /** The error's `cause`, described the same way (four levels at most). */
  cause?: SerializedError;
  /** Set when what was thrown was not an `Error`. */
  value?: unknown;
}

/** Describes a thrown value so the main thread can rebuild it with {@link reviveError}. */
export function serializeError(error: unknown, depth = 0): SerializedError {
  if (!(error instanceof Error)) {
    let value: unknown;
    try {
      value = structuredClone(error);
    } catch {
      value = String(error);
    }
    return { name: 'Error', message: `non-Error thrown: ${String(error)}`, props: {}, value };
  }
  const props: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(error)) {
    if (key === 'cause' || key === 'code') continue;
    try {
      props[key] = structuredClone(item);
    } catch {
      // not cloneable (a socket, a function): left out
    }
  }
  const out: SerializedError = { name: error.name, message: error.message, props };
  if (error.stack !== undefined) out.stack = error.stack;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') out.code = code;
  if (error.cause !== undefined && depth < 4) out.cause = serializeError(error.cause, depth + 1);
  return out;
}

/**
 * Rebuilds an error described by {@link serializeError}: a
 * `SocketServerError` when it has an `ERR_SOCKETSERVER_` code, otherwise an
 * `Error`, with the original `name`, `message`, `stack` (the worker's) and
 * fields. A thrown non-Error comes back as an `Error` whose `value` is it.
 */
export function reviveError(described: SerializedError): Error {
  const error =
    described.code?.startsWith('ERR_SOCKETSERVER_') === true
      ? new SocketServerError(described.code, described.message)
      : new Error(described.message);
  Object.defineProperty(error, 'name', {
    value: described.name,
    configurable: true,
    writable: true,
    enumerable: false,
  });
  if (described.stack !== undefined) error.stack = described.stack;
  Object.assign(error, described.props);
  if (described.code !== undefined) (error as { code?: string }).code = described.code;
  if (described.cause !== undefined) error.cause = reviveError(described.cause);
  if ('value' in described) (error as { value?: unknown }).value = described.value;
  return error;
}
