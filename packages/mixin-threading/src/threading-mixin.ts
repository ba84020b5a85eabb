/**
 * `ThreadingMixIn`: handlers run in worker threads, each serving many
 * requests at once on its own event loop.
 *
 * @module
 */
import { availableParallelism } from 'node:os';
import { type ServerClass, StreamServer } from '@socketserver/core';
import {
  canMoveSockets,
  type HostedServer,
  HostMixIn,
  hostPoolOf,
  threadDriver,
} from '@socketserver/core/host';

/** What `ThreadingMixIn` adds to a server (besides the host settings of {@link HostedServer}). */
export interface ThreadingServer extends HostedServer {
  /** The most worker threads at once (default `os.availableParallelism()`). */
  maxThreads: number;
  /**
   * Python's `daemon_threads` (default false). When true, worker threads
   * never keep the process alive and `serverClose` does not wait for them.
   */
  daemonThreads: boolean;
  /** Live worker threads. */
  readonly activeThreads: number;
  /**
   * Whether this server moves each accepted connection to its worker thread,
   * which then reads and writes it itself: a TCP server on a Node line that
   * can move sockets to threads (24.21 and later, 26; detected at run time).
   * Otherwise (Unix stream sockets, Node 20 and 22) the connection stays on
   * the main thread, which moves its bytes to the worker.
   */
  readonly movesConnections: boolean;
}

/**
 * Mix-in whose servers run handlers in a pool of worker threads (Python's
 * `ThreadingMixIn`, on Node's `worker_threads`). It overrides
 * `processRequest` (hand the request to a worker and return) and extends
 * `serverActivate` (start the first worker, which imports the handler),
 * `serverClose` (close the pool, waiting when `blockOnClose`) and core's
 * `closeIdleRequests`.
 *
 * ```ts
 * class ThreadingTCPServer extends ThreadingMixIn(TCPServer) {}
 * ```
 *
 * A worker imports the handler's module, so the handler class says where it
 * is (`static moduleUrl = import.meta.url`, which the types require) in a
 * module that starts no server when imported. Each worker serves up to
 * `hostConcurrency` requests at once; `hostConcurrency: 1` gives Python's
 * thread per request. `this.server` in a worker is a snapshot of the
 * server's data fields in which every `SharedState` and `Lock` is the real
 * shared one.
 */
export function ThreadingMixIn<TBase extends ServerClass>(
  Base: TBase,
): TBase & (abstract new (...args: any[]) => ThreadingServer) {
  abstract class ThreadingMixed
    extends HostMixIn(Base, {
      driver: threadDriver,
      maxHostsField: 'maxThreads',
      daemon: (server) => (server as ThreadingServer).daemonThreads,
    })
    implements ThreadingServer
  {
    maxThreads = availableParallelism();
    daemonThreads = false;

    get activeThreads(): number {
      return hostPoolOf(this)?.hosts ?? 0;
    }

    get movesConnections(): boolean {
      return (
        this instanceof StreamServer && typeof this.serverAddress === 'object' && canMoveSockets()
      );
    }
  }
  return ThreadingMixed;
}
