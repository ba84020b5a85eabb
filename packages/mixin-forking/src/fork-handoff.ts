/**
 * `forkHandoff`: the seed's "explicit fork in the request handler class
 * handle() method": a stream handler reads part of a request, then hands
 * the connection, with every byte it has not consumed, to a child process
 * that finishes it.
 *
 * @module
 */
import { Socket } from 'node:net';
import {
  type Address,
  ClosedError,
  type ImportableHandlerClass,
  InvalidArgumentError,
  locateHandler,
  type Reader,
  UnsupportedError,
  type Writer,
} from '@socketserver/core';
import { HandoffError, snapshotServer, stopReading } from '@socketserver/core/host';
import { ChildPool, submitJob } from './child-pool.js';

/** Options of {@link forkHandoff}. */
export interface ForkHandoffOptions {
  /**
   * The handler class that finishes the request in the child. It needs
   * `static moduleUrl = import.meta.url` and must be exported by its name.
   * Its `rfile` first reads `replay`, then every byte the parent received
   * but did not consume, then the rest of the connection.
   */
  handler: ImportableHandlerClass;
  /** Bytes to put back in front, for example the line the parent read to decide (default none). */
  replay?: Uint8Array;
  /** JSON-serializable data for the child's handler, set as its `handoffData` before `setup` (default none). */
  data?: unknown;
  /**
   * The pool of children to use (default {@link defaultChildPool}; in a
   * `ForkingMixIn` child, that is a pool of the child's own children).
   */
  pool?: ChildPool;
}

/** What {@link forkHandoff} resolves to, once the child owns the connection. */
export interface HandoffResult {
  /** The child process that finishes the request. */
  pid: number;
  /**
   * Settles when the child has finished: `null`, or the error that ended the
   * request (the handler's, or the child's death). Never rejects; the error
   * also goes to the server's `handleError`.
   */
  done: Promise<Error | null>;
}

/** The stream handler shape `forkHandoff` needs: a `StreamRequestHandler` after `setup`. */
export interface HandoffSource {
  request: unknown;
  clientAddress: Address;
  server: object;
  rfile?: Reader;
  wfile?: Writer;
}

let defaultPool: ChildPool | null = null;

/**
 * The process-wide pool `forkHandoff` uses when given none: default settings, idle children do not keep the process alive and
 * exit after `hostIdleTimeout`. Set its fields to size it; `close()` it to
 * end its children (the next hand-off then starts a new pool).
 */
export function defaultChildPool(): ChildPool {
  if (defaultPool === null || defaultPool.closed) defaultPool = new ChildPool();
  return defaultPool;
}

/**
 * Hands the connection of a stream handler to a child process that
 * finishes the request with `options.handler`. Call it from `handle()`
 * (of any stream server, in any mode); return from `handle()` once it
 * resolves and do not touch the connection again.
 *
 * Before handing over, everything written to `wfile` is flushed (so the
 * peer sees the parent's bytes first), reading stops, and the bytes the
 * parent received but did not consume (`rfile`'s buffer and the socket's)
 * travel with the connection: the child's `rfile` reads `replay`, then
 * those, then the rest. Resolves with the child's pid once the child owns
 * the connection. Rejects with `HandoffError` (the connection is then
 * closed) when it cannot be handed over, with `InvalidArgumentError` on
 * misuse, with `UnsupportedError` for a TLS connection.
 *
 * ```ts
 * async handle() {
 *   const line = await this.rfile.readline();
 *   if (line.toString().startsWith('HEAVY')) {
 *     await forkHandoff(this, { handler: HeavyHandler, replay: line });
 *     return;
 *   }
 *   await this.wfile.write(line);
 * }
 * ```
 */
export async function forkHandoff(
  source: HandoffSource,
  options: ForkHandoffOptions,
): Promise<HandoffResult> {
  const socket = source.request;
  if (!(socket instanceof Socket)) {
    throw new InvalidArgumentError(
      'forkHandoff needs a stream handler whose request is a connected socket of this process',
    );
  }
  if ('encrypted' in socket) {
    throw new UnsupportedError('a TLS connection cannot be handed to a child process');
  }
  if (typeof options?.handler !== 'function') {
    throw new InvalidArgumentError(
      'forkHandoff needs options.handler, the class that finishes the request',
    );
  }
  const location = locateHandler(options.handler);
  if (options.data !== undefined) assertJson(options.data);
  const pool = options.pool ?? defaultChildPool();
  if (pool.closed) throw new ClosedError('the child pool');
  if (socket.destroyed) throw new HandoffError('the connection is already closed');

  // The parent's bytes first: the kernel then holds them ahead of the child's.
  try {
    await source.wfile?.flush();
  } catch (error) {
    throw new HandoffError('the connection failed while flushing before the hand-off', {
      cause: error,
    });
  }
  const prefix = takeUnread(socket, source.rfile, options.replay);

  const server = source.server as { handleError?: (...args: unknown[]) => unknown };
  const report = (error: Error) => {
    if (typeof server.handleError !== 'function') return;
    try {
      Promise.resolve(server.handleError(socket, source.clientAddress, error)).catch(() => {});
    } catch {
      // handleError itself failed: nothing more to do.
    }
  };

  return new Promise<HandoffResult>((resolve, reject) => {
    let dispatched = false;
    const placing = pool[submitJob]({
      request: socket,
      clientAddress: source.clientAddress,
      handler: location,
      prefix,
      data: options.data,
      server: { key: serverKey(source.server), snapshot: snapshotServer(source.server, 'process') },
      onDispatched: (pid) => {
        dispatched = true;
        resolve({ pid, done });
      },
    });
    const done: Promise<Error | null> = placing.then(
      ({ outcome }) =>
        outcome.then(
          () => null,
          (error: Error) => error,
        ),
      (error: Error) => error,
    );
    void done.then((error) => {
      if (!dispatched) {
        socket.destroy();
        reject(
          error ??
            new HandoffError('the connection closed, or the pool closed, before a child took it'),
        );
        return;
      }
      if (error !== null) report(error);
    });
  });
}

const serverKeys = new WeakMap<object, number>();
let nextServerKey = 1;

/** One key per server object, so a child keeps one `this.server` per server. */
function serverKey(server: object): number {
  let key = serverKeys.get(server);
  if (key === undefined) {
    key = nextServerKey++;
    serverKeys.set(server, key);
  }
  return key;
}

/**
 * Stops reading from `socket` and returns, in order, `replay`, the bytes
 * `rfile` holds, and the bytes the socket read but nobody consumed. Reading
 * stays stopped, so later bytes wait in the kernel for the child.
 */
function takeUnread(socket: Socket, rfile: Reader | undefined, replay?: Uint8Array): Buffer {
  const parts: Buffer[] = [];
  if (replay !== undefined && replay.length > 0) parts.push(Buffer.from(replay));
  socket.pause();
  const held = rfile?.takeBuffered();
  if (held !== undefined && held.length > 0) parts.push(held);
  for (;;) {
    const chunk = socket.read() as Buffer | null;
    if (chunk === null) break;
    parts.push(chunk);
  }
  // `read()` may restart reading; stop it at the handle, as `pauseOnConnect` does,
  // so nothing more is read into this process before the handle leaves it.
  stopReading(socket);
  return Buffer.concat(parts);
}

function assertJson(data: unknown): void {
  try {
    JSON.stringify(data);
  } catch (error) {
    throw new InvalidArgumentError(
      `forkHandoff's data must be JSON-serializable: ${(error as Error).message}`,
    );
  }
}
