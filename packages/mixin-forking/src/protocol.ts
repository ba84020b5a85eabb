/**
 * The messages between the parent and a child process, over Node's IPC
 * channel (JSON serialization: it is about twice as fast as `advanced` for
 * these small messages; bytes travel as base64).
 *
 * @module
 */
import type { Address, HandlerLocation } from '@socketserver/core';

/** An error as it crosses the process boundary. */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  code?: string | number;
  errno?: number;
  syscall?: string;
}

/** Parent to child: run a handler for one request. A stream job carries the socket as the handle. */
export interface JobMessage {
  t: 'job';
  id: number;
  kind: 'stream' | 'dgram';
  /** Where the handler class lives. */
  h: HandlerLocation;
  /** The client's address. */
  addr: Address;
  /** Which server the request came to (one `server` stand-in per server per child). */
  sv: number;
  /** The server's plain-data fields, sent the first time this child serves that server. */
  snap?: Record<string, unknown>;
  /** Stream: bytes read before the hand-off, to be read first (base64). */
  pre?: string;
  /** Datagram: the packet (base64). */
  pkt?: string;
  /** Hand-off: data for the handler (`handoffData`). */
  data?: unknown;
}

/** Parent to child: a `sendto` the child asked for was done (or failed). */
export interface SentMessage {
  t: 'sent';
  seq: number;
  err?: SerializedError;
}

/** Parent to child: finish the current request, then exit. */
export interface RetireMessage {
  t: 'retire';
}

/** What the parent sends. */
export type ParentMessage = JobMessage | SentMessage | RetireMessage;

/** Child to parent: started and listening. */
export interface ReadyMessage {
  t: 'ready';
}

/** Child to parent: a job finished; `err` is the handler's error. `load`: the handler could not be loaded. */
export interface DoneMessage {
  t: 'done';
  id: number;
  err?: SerializedError;
  load?: boolean;
}

/** Child to parent: send a datagram from the server's socket. */
export interface SendToMessage {
  t: 'sendto';
  id: number;
  seq: number;
  data: string;
  addr: Address;
}

/** Child to parent: an error escaped every handler; the child exits next. */
export interface FatalMessage {
  t: 'fatal';
  err: SerializedError;
}

/** What a child sends. */
export type ChildMessage = ReadyMessage | DoneMessage | SendToMessage | FatalMessage;

/** Turns any thrown value into a {@link SerializedError}. */
export function serializeError(error: unknown): SerializedError {
  if (!(error instanceof Error)) {
    return { name: 'Error', message: `non-error thrown: ${String(error)}` };
  }
  const out: SerializedError = { name: error.name, message: error.message };
  if (typeof error.stack === 'string') out.stack = error.stack;
  const extra = error as { code?: unknown; errno?: unknown; syscall?: unknown };
  if (typeof extra.code === 'string' || typeof extra.code === 'number') out.code = extra.code;
  if (typeof extra.errno === 'number') out.errno = extra.errno;
  if (typeof extra.syscall === 'string') out.syscall = extra.syscall;
  return out;
}

/**
 * Rebuilds an error from a child: an `Error` with the same `name`,
 * `message`, `code`, `errno`, `syscall`, and the child's `stack`, plus
 * `childPid`.
 */
export function deserializeError(data: SerializedError, pid: number | undefined): Error {
  const error = new Error(data.message) as Error & Record<string, unknown>;
  error.name = data.name;
  error.stack = data.stack ?? `${data.name}: ${data.message}`;
  if (data.code !== undefined) error.code = data.code;
  if (data.errno !== undefined) error.errno = data.errno;
  if (data.syscall !== undefined) error.syscall = data.syscall;
  error.childPid = pid;
  return error;
}

/**
 * The plain-data fields of a server, for its stand-in in a child: own
 * enumerable fields holding strings, numbers, booleans, null, and arrays or
 * plain objects of those. Sockets, class objects, maps and the like are left
 * out.
 */
export function snapshotServer(server: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(server)) {
    if (key === 'RequestHandlerClass' || key === 'socket') continue;
    if (isPlainData(value, 0)) out[key] = value;
  }
  return out;
}

function isPlainData(value: unknown, depth: number): boolean {
  if (value === null) return true;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object': {
      if (depth > 8) return false;
      if (Array.isArray(value)) return value.every((item) => isPlainData(item, depth + 1));
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return false;
      return Object.values(value).every((item) => isPlainData(item, depth + 1));
    }
    default:
      return false;
  }
}
