/**
 * What travels between a server and its hosts (worker threads, child
 * processes): the messages, and the one wire format of errors.
 *
 * Messages are objects, sent with `postMessage` (threads) or over the IPC
 * channel with Node's `advanced` serialization (children): both clone the
 * same kinds of values (typed arrays, nested objects, `Map`, `Date`, ...).
 * A thread's stream bytes, when they are bridged, travel as records packed
 * into one `Uint8Array` per turn (see `records.ts`).
 *
 * @module
 */

import type { ConnectionSetupSettings } from '../connection-setup.js';
import {
  ClosedError,
  IncompleteReadError,
  InvalidArgumentError,
  QueueFullError,
  SocketServerError,
  TimeoutError,
  UnsupportedError,
} from '../errors.js';
import { type ProxyHeader, ProxyProtocolError } from '../proxy-protocol.js';
import { SocketActivationError } from '../socket-activation.js';
import { TLSHandshakeError } from '../tls-layer.js';
import type { Address } from '../types.js';
import type { TLSFacts } from './bridged-facts.js';
import { HandoffError, HostExitedError, RequestTimeLimitError } from './errors.js';

/** A module's named export, as a host imports it: a handler class or a request preparer. */
export interface ModuleExport {
  /** The module's URL (`file:///...`). */
  moduleUrl: string;
  /** The name the module exports it under. */
  exportName: string;
}

/** What a host is started with. */
export interface HostBoot {
  /** The server's handler class, loaded before the host says it is ready (null: each request names its own). */
  handler: ModuleExport | null;
  /** The server's request preparers, run before each handler. */
  preparers: ModuleExport[];
  /** The server's snapshot: `this.server` of every handler in the host. */
  server: Record<string, unknown>;
  /** The parent's `process.execArgv`: where a host finds a TypeScript loader it needs. */
  parentExecArgv: string[];
  /**
   * How the host prepares each connection before its handler (the PROXY
   * header, the TLS handshake), or null: the server prepared it already, or
   * there is nothing to do.
   */
  connections?: ConnectionSetupSettings | null;
}

/** The peer's details a bridged stream handler reads from `request` (a `net.Socket`'s fields). */
export interface SocketInfo {
  remoteAddress?: string | undefined;
  remotePort?: number | undefined;
  remoteFamily?: string | undefined;
  localAddress?: string | undefined;
  localPort?: number | undefined;
  localFamily?: string | undefined;
  /** A TLS connection (its handshake ran in the server's thread): what `tls.TLSSocket` reports. */
  tls?: TLSFacts;
  /** The PROXY header it arrived with (read in the server's thread). */
  proxyHeader?: ProxyHeader;
}

/**
 * Server to host: run request `id`. `kind` says what the request is in the
 * host: `socket`, a connection the host owns (moved to the thread, or handed
 * to the child with the message); `bridged`, a connection whose bytes the
 * server moves (records); `datagram`, a packet whose replies the server
 * sends from its own socket.
 */
export interface StartMessage {
  t: 'start';
  id: number;
  kind: 'socket' | 'bridged' | 'datagram';
  addr: Address;
  /** `socket` in a thread: the moved socket (in the transfer list). */
  socket?: unknown;
  /** `bridged`: the real socket's address fields. */
  info?: SocketInfo;
  /** `datagram`: the packet. */
  packet?: Uint8Array;
  /** Bytes the server read before handing the connection over, read first by `rfile`. */
  prefix?: Uint8Array;
  /** Another handler than the server's (a hand-off). */
  handler?: ModuleExport;
  /** Data for the handler, set as its `handoffData` before `setup` (a hand-off). */
  data?: unknown;
  /**
   * The server the request came to, when it is not the host's (a hand-off):
   * its key, and its snapshot (kept by the host the first time it sees the key).
   */
  server?: { key: number; snapshot: Record<string, unknown> };
}

/** Server to host. */
export type ToHost =
  | StartMessage
  /** A datagram the host asked to send was sent (or failed). */
  | { t: 'sent'; id: number; seq: number; err?: WireError }
  /** Stop request `id` now (its time limit passed): destroy its connection. */
  | { t: 'abort'; id: number }
  /** The server shuts down: ask handlers to close their connections when idle. */
  | { t: 'closeIdle' }
  /** Finish the requests in progress, then exit. */
  | { t: 'retire' }
  /** Prepare connections from now on with this setup (a new certificate). */
  | { t: 'connections'; setup: ConnectionSetupSettings | null }
  /** Bridged bytes and flow control for several requests (threads only). */
  | { t: 'records'; b: Uint8Array };

/** Host to server. */
export type FromHost =
  /** The handler (and preparers) loaded: requests may come. */
  | { t: 'ready' }
  /** The handler could not be loaded: the host exits. */
  | { t: 'loadError'; err: WireError }
  /**
   * Request `id` is over: `err` is the handler's error. The connection is
   * already ended; `io` is its bytes (read, written) when the host owned it;
   * `gone`: its peer left before it was prepared (no handler ran).
   */
  | { t: 'done'; id: number; err?: WireError; io?: [number, number]; gone?: true }
  /** Send a datagram from the server's socket for request `id`. */
  | { t: 'sendto'; id: number; seq: number; data: Uint8Array; addr: Address }
  /** An error escaped every handler: the host exits next. */
  | { t: 'fatal'; err: WireError }
  /** A thread's messages of one turn: its bridged records, then its other messages, in order. */
  | { t: 'batch'; b: Uint8Array | null; m: FromHost[] };

// ---------------------------------------------------------------- errors

/**
 * An error as it crosses to or from a host. It keeps the error's class
 * (the names of its class chain, most derived first), `name`, `message`,
 * `stack` (the host's), `code`, `cause` and `errors` (each described the
 * same way), and its other own fields that can be cloned.
 */
export interface WireError {
  /** Class names from the error's own class up to `Error`, for example `['MyError', 'TypeError', 'Error']`. */
  classes: string[];
  name: string;
  message: string;
  stack?: string;
  code?: string | number;
  cause?: WireError;
  /** `AggregateError`'s errors. */
  errors?: WireError[];
  /** Other own fields (`errno`, `syscall`, `limit`, ...). */
  props: Record<string, unknown>;
  /** Set when what was thrown was not an `Error`: the value, or its string form. */
  value?: unknown;
}

/** Classes an error comes back as, by name: built-in errors and @socketserver's. */
const KNOWN_CLASSES = new Map<string, abstract new (...args: never[]) => Error>();

/**
 * Lets errors of these classes come back from a host as instances of them
 * (an unknown class comes back as its nearest known ancestor, with its own
 * `name`). Core's and the host layer's classes are known already.
 */
export function registerErrorClasses(
  ...classes: Array<abstract new (...args: never[]) => Error>
): void {
  for (const Class of classes) KNOWN_CLASSES.set(Class.name, Class);
}

registerErrorClasses(
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
  AggregateError,
  SocketServerError,
  InvalidArgumentError,
  TimeoutError,
  IncompleteReadError,
  ClosedError,
  QueueFullError,
  UnsupportedError,
  HostExitedError,
  RequestTimeLimitError,
  HandoffError,
  ProxyProtocolError,
  TLSHandshakeError,
  SocketActivationError,
);

const OWN = new Set(['name', 'message', 'stack', 'code', 'cause', 'errors']);
const MAX_DEPTH = 4;

/** Describes a thrown value for {@link fromWire}. */
export function toWire(error: unknown, depth = 0): WireError {
  if (!(error instanceof Error)) {
    return {
      classes: ['Error'],
      name: 'Error',
      message: `non-Error thrown: ${String(error)}`,
      props: {},
      value: cloneable(error) ? error : String(error),
    };
  }
  const props: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(error)) {
    if (!OWN.has(key) && cloneable(value)) props[key] = value;
  }
  const wire: WireError = {
    classes: classChain(error),
    name: error.name,
    message: error.message,
    props,
  };
  if (typeof error.stack === 'string') wire.stack = error.stack;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' || typeof code === 'number') wire.code = code;
  if (depth < MAX_DEPTH) {
    if (error.cause !== undefined) wire.cause = toWire(error.cause, depth + 1);
    if (error instanceof AggregateError) {
      wire.errors = error.errors.map((item) => toWire(item, depth + 1));
    }
  }
  return wire;
}

/**
 * Rebuilds an error described by {@link toWire}: an instance of its class
 * when this side knows it (by name), else of the nearest known class in its
 * chain, with the original `name`, `message`, `stack`, `code`, `cause` and
 * fields. A thrown non-Error comes back as an `Error` whose `value` is it.
 */
export function fromWire(wire: WireError): Error {
  const known = wire.classes.find((name) => KNOWN_CLASSES.has(name)) ?? 'Error';
  const error = Object.create(KNOWN_CLASSES.get(known)!.prototype) as Error &
    Record<string, unknown>;
  define(error, 'message', wire.message);
  if (wire.name !== error.name) define(error, 'name', wire.name);
  define(error, 'stack', wire.stack ?? `${wire.name}: ${wire.message}`);
  Object.assign(error, wire.props);
  if (wire.code !== undefined) error.code = wire.code;
  if (wire.cause !== undefined) define(error, 'cause', fromWire(wire.cause));
  if (wire.errors !== undefined) define(error, 'errors', wire.errors.map(fromWire));
  if ('value' in wire) error.value = wire.value;
  return error;
}

function classChain(error: Error): string[] {
  const classes: string[] = [];
  for (
    let proto = Object.getPrototypeOf(error);
    proto !== null;
    proto = Object.getPrototypeOf(proto)
  ) {
    const name = (proto as { constructor?: { name?: unknown } }).constructor?.name;
    if (typeof name === 'string' && name !== '' && name !== 'Object') classes.push(name);
  }
  return classes.length > 0 ? classes : ['Error'];
}

/** Non-enumerable, as the language defines `message`, `stack` and `cause`. */
function define(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, {
    value,
    writable: true,
    configurable: true,
    enumerable: false,
  });
}

function cloneable(value: unknown): boolean {
  if (typeof value === 'function' || typeof value === 'symbol') return false;
  if (typeof value !== 'object' || value === null) return true;
  try {
    structuredClone(value);
    return true;
  } catch {
    return false;
  }
}
