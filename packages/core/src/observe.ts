/**
 * What a server tells observers: `node:diagnostics_channel` channels for
 * connections and requests, and the counters behind `server.stats()`.
 *
 * Channels cost nothing measurable without a subscriber: a message is built
 * only when a channel of its kind has one (`hasSubscribers`). Counters are
 * plain integers incremented where things happen.
 *
 * @module
 */
import { channel } from 'node:diagnostics_channel';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { ProxyProtocolError } from './proxy-protocol.js';
import { TLSHandshakeError } from './tls-layer.js';
import type { Address } from './types.js';

/**
 * The channel names (`diagnostics_channel.subscribe(name, listener)`):
 *
 * - `socketserver:connection:open`: a stream server accepted a connection
 *   ({@link ConnectionMessage}).
 * - `socketserver:connection:close`: the server is done with it: closed, or
 *   ended by the worker thread or child process that served it
 *   ({@link ConnectionCloseMessage}).
 * - `socketserver:request:start`: a request (a connection or a datagram)
 *   goes to its handler ({@link RequestMessage}).
 * - `socketserver:request:error`: it failed (the same message, `error`
 *   set), just before `handleError`.
 * - `socketserver:request:finish`: it is over, after `shutdownRequest`
 *   (the same message, `outcome` and `duration` set).
 */
export const CHANNELS = {
  connectionOpen: 'socketserver:connection:open',
  connectionClose: 'socketserver:connection:close',
  requestStart: 'socketserver:request:start',
  requestError: 'socketserver:request:error',
  requestFinish: 'socketserver:request:finish',
} as const;

const connectionOpen = channel(CHANNELS.connectionOpen);
const connectionClose = channel(CHANNELS.connectionClose);
const requestStart = channel(CHANNELS.requestStart);
const requestError = channel(CHANNELS.requestError);
const requestFinish = channel(CHANNELS.requestFinish);

/** How a server runs its requests. */
export type ServerMode = 'sync' | 'eventloop' | 'threading' | 'forking';

/** Published on `socketserver:connection:open`. */
export interface ConnectionMessage {
  /** The server that accepted it. */
  server: object;
  /** The accepted socket (before any TLS). */
  socket: Socket;
  /** The peer, as the transport names it (the balancer when the PROXY protocol is on). */
  peer: Address;
}

/** Published on `socketserver:connection:close` (the `socket` of its open message). */
export interface ConnectionCloseMessage {
  /** The server that accepted it. */
  server: object;
  /** The accepted socket. */
  socket: Socket;
  /** Bytes received on the connection (TLS records included). */
  bytesRead: number;
  /** Bytes written to it. */
  bytesWritten: number;
}

/** How a request ended: see {@link ServerStats}. */
export type RequestOutcome = 'completed' | 'failed' | 'rejected' | 'abandoned';

/** Published on `socketserver:request:start`, then `:error` and `:finish` (the same object). */
export interface RequestMessage {
  /** The server the request came to. */
  server: object;
  /** The connection (`net.Socket`) or the datagram request (`{ packet, socket }`). */
  request: unknown;
  /** The client, as the handler gets it (with the PROXY protocol, the client the header names). */
  clientAddress: unknown;
  /** `performance.now()` at the start. */
  startTime: number;
  /** Set for `:error` and `:finish` when the request failed. */
  error?: unknown;
  /** Set for `:finish`. */
  outcome?: RequestOutcome;
  /** Set for `:finish`: milliseconds since `startTime`. */
  duration?: number;
}

/** A snapshot of a server's activity, from `server.stats()`. Counts are since the server was made. */
export interface ServerStats {
  /** How it runs its requests: one at a time (`sync`), `eventloop`, `threading` or `forking`. */
  mode: ServerMode;
  /** Connections accepted (stream servers) or datagrams received (datagram servers). */
  accepted: number;
  /** Requests in progress: their handler runs (or, in `threading` and `forking`, their host prepares them). */
  active: number;
  /** Requests waiting for the server, or for a worker thread or child process. */
  queued: number;
  /**
   * Requests refused before their handler: the queue was full, `verifyRequest`
   * said no, the PROXY header was refused, the TLS handshake failed.
   */
  rejected: number;
  /** Requests whose handler returned. */
  completed: number;
  /** Requests whose handler (or a hook on their way) threw: each went to `handleError`. */
  failed: number;
  /**
   * Requests whose peer left before they were prepared (`threading`,
   * `forking`: connections are prepared where the handler runs). Elsewhere
   * such a peer never becomes a request.
   */
  abandoned: number;
  /** Connections open now (stream servers; 0 for datagram servers). */
  connections: number;
  /** Bytes received: on connections (closed, and open now), or in datagrams. */
  bytesIn: number;
  /** Bytes sent: on connections, or in datagrams. */
  bytesOut: number;
  /** `threading`, `forking`: worker threads or child processes running now. */
  hosts?: number;
}

/** A server's counters, kept where things happen. @internal */
export class ServerCounters {
  accepted = 0;
  rejected = 0;
  completed = 0;
  failed = 0;
  abandoned = 0;
  bytesIn = 0;
  bytesOut = 0;
}

/** Where a server keeps its {@link ServerCounters}. @internal */
export const kCounters: unique symbol = Symbol.for('@socketserver/core.counters') as never;

/** A server's counters. @internal */
export function countersOf(server: object): ServerCounters {
  return (server as { [kCounters]: ServerCounters })[kCounters];
}

/** What a host reports for a request that did not reach its handler because its peer left. @internal */
export const NOT_SERVED: unique symbol = Symbol.for('@socketserver/core.notServed') as never;

/** Publishes a connection's opening, when someone listens. */
export function connectionOpened(server: object, socket: Socket, peer: Address): void {
  if (connectionOpen.hasSubscribers) connectionOpen.publish({ server, socket, peer });
}

/** Publishes a connection's end, when someone listens. */
export function connectionClosed(
  server: object,
  socket: Socket,
  bytesRead: number,
  bytesWritten: number,
): void {
  if (connectionClose.hasSubscribers) {
    connectionClose.publish({ server, socket, bytesRead, bytesWritten });
  }
}

/** Starts a request's messages: null (nothing built) when no request channel has a subscriber. */
export function requestStarted(
  server: object,
  request: unknown,
  clientAddress: unknown,
): RequestMessage | null {
  if (!(requestStart.hasSubscribers || requestError.hasSubscribers || requestFinish.hasSubscribers))
    return null;
  const message: RequestMessage = { server, request, clientAddress, startTime: performance.now() };
  if (requestStart.hasSubscribers) requestStart.publish(message);
  return message;
}

/**
 * A request failed: counts it (failed, or rejected for a connection its
 * host refused to prepare) and publishes the error. Returns the outcome.
 */
export function requestFailed(
  counters: ServerCounters,
  message: RequestMessage | null,
  error: unknown,
): RequestOutcome {
  const outcome = isRefusal(error) ? 'rejected' : 'failed';
  counters[outcome]++;
  if (message !== null) {
    message.error = error;
    if (requestError.hasSubscribers) requestError.publish(message);
  }
  return outcome;
}

/** A request that was not started failed (a hook before it threw): counts and publishes it. */
export function requestRefused(
  server: object,
  request: unknown,
  clientAddress: unknown,
  error: unknown,
): void {
  countersOf(server).failed++;
  if (requestError.hasSubscribers) {
    requestError.publish({ server, request, clientAddress, startTime: performance.now(), error });
  }
}

/** Publishes a request's end. */
export function requestFinished(message: RequestMessage | null, outcome: RequestOutcome): void {
  if (message === null || !requestFinish.hasSubscribers) return;
  message.outcome = outcome;
  message.duration = performance.now() - message.startTime;
  requestFinish.publish(message);
}

/** A connection refused while it was prepared (in a host): a rejection, not a failure. */
function isRefusal(error: unknown): boolean {
  return error instanceof ProxyProtocolError || error instanceof TLSHandshakeError;
}
