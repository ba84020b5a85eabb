/**
 * `HostMixIn`: what `ThreadingMixIn` and `ForkingMixIn` share, written once:
 * a server whose handlers run in a pool of hosts. It overrides
 * `processRequest` (hand the request to the pool; core's `completeRequest`
 * takes the outcome), and extends `serverActivate` (start the first host, so
 * a handler that cannot load fails `create`), `closeIdleRequests` (reach the
 * hosts' handlers) and `serverClose` (close the pool).
 *
 * @module
 */
import type { Socket } from 'node:net';
import { kHostedConnection } from '../connection-book.js';
import {
  connectionSetupOf,
  kConnectionSetupChanged,
  kPreparedInHosts,
} from '../connection-setup.js';
import { DatagramServer } from '../datagram-server.js';
import type { ServerClass } from '../event-loop-mixin.js';
import {
  assertNotEntryModule,
  type ImportableHandlerClass,
  locateExport,
  locateHandler,
} from '../handler-module.js';
import { canMoveSockets } from '../node-internals.js';
import type { ServerStats } from '../observe.js';
import type { Address, Awaitable } from '../types.js';
import { type HostDriver, type HostJob, HostPool } from './pool.js';
import { defaultHostPoolSettings, type HostPoolSettings } from './settings.js';
import { snapshotServer } from './snapshot.js';

/** The settings and state a server with hosts has, under the same names for threads and children. */
export interface HostedServer {
  /**
   * The handler class. It must say which module exports it
   * (`static moduleUrl = import.meta.url`): hosts import it from there.
   */
  RequestHandlerClass: ImportableHandlerClass;
  /** Python's `block_on_close` (default true): `serverClose` waits for every request and host. */
  blockOnClose: boolean;
  /** Requests one host serves at once (default 512); `1` is Python's one request per thread or child. */
  hostConcurrency: number;
  /** Requests that may wait while every host is full (default 64); past it the server stops taking requests. */
  maxWaitingRequests: number;
  /** Ms an idle host lives, the first one excepted; `null`: for ever (default 10,000). */
  hostIdleTimeout: number | null;
  /** Ms a request may run; `null` (default): no limit. Past it: `RequestTimeLimitError`. */
  requestTimeLimit: number | null;
  /** Requests a host serves before it is replaced; `null` (default): no limit. */
  maxRequestsPerHost: number | null;
  /** Node.js options for hosts; `null` (default): the parent's. */
  hostExecArgv: string[] | null;
  /** Requests in progress: in a host, or waiting for room on one. */
  readonly activeRequests: number;
  /** Requests waiting for room on a host. */
  readonly waitingRequests: number;
}

/** What a mix-in built on {@link HostMixIn} says about its hosts. */
export interface HostMixInSpec {
  /** Starts the hosts. */
  driver: HostDriver;
  /** The server field holding the most hosts (`maxThreads`, `maxChildren`). */
  maxHostsField: string;
  /** Whether hosts never keep the process alive (`daemonThreads`). */
  daemon?(server: object): boolean;
}

/** Where a hosted server keeps its pool: for the mix-ins built on it (`activeChildren`, ...). */
export const kHostPool: unique symbol = Symbol.for('@socketserver/core.hostPool') as never;

/** The pool of a server built on {@link HostMixIn}, once it has one. */
export function hostPoolOf(server: object): HostPool | undefined {
  return (server as { [kHostPool]?: HostPool })[kHostPool];
}

/**
 * Mix-in whose servers run handlers in hosts started by `spec.driver`. The
 * base of `ThreadingMixIn` and `ForkingMixIn`; not for direct use.
 */
export function HostMixIn<TBase extends ServerClass>(
  Base: TBase,
  spec: HostMixInSpec,
): TBase & (abstract new (...args: any[]) => HostedServer) {
  const defaults = defaultHostPoolSettings();
  abstract class HostMixed extends Base {
    blockOnClose = true;
    hostConcurrency = defaults.hostConcurrency;
    maxWaitingRequests = defaults.maxWaitingRequests;
    hostIdleTimeout = defaults.hostIdleTimeout;
    requestTimeLimit = defaults.requestTimeLimit;
    maxRequestsPerHost = defaults.maxRequestsPerHost;
    hostExecArgv = defaults.hostExecArgv;
    /** Requests taken from the queue that wait for room on a host (`processRequest` holds them). */
    #holding = 0;

    get activeRequests(): number {
      return this.requestsInProgress;
    }

    get waitingRequests(): number {
      return hostPoolOf(this)?.waiting ?? 0;
    }

    /**
     * Whether hosts prepare connections (read the PROXY header, run the TLS
     * handshake) where their handler runs: yes when the connection reaches
     * the host as its own socket (handed to a child process; moved to a
     * worker thread, on Node lines that can move TCP sockets). A connection
     * bridged to a worker thread (Unix stream, older lines) is prepared here
     * before it is queued, as in the in-process modes.
     */
    get [kPreparedInHosts](): boolean {
      if (spec.driver.kind === 'process') return true;
      return canMoveSockets() && typeof this.serverAddress !== 'string';
    }

    /** A stream server's connection setup changed (a new certificate): tell the hosts. */
    [kConnectionSetupChanged](): void {
      const setup = this[kPreparedInHosts] ? connectionSetupOf(this) : null;
      hostPoolOf(this)?.update({ t: 'connections', setup });
    }

    /**
     * Activates the server, then starts the first host and waits until it
     * has loaded the handler: a handler that cannot be imported (or a
     * setting out of range) fails here, so `create` rejects with it.
     */
    override async serverActivate(): Promise<void> {
      await super.serverActivate();
      await this.#pool().start();
    }

    /**
     * Hands the request to a host and returns; waits first while
     * `maxWaitingRequests` requests wait for room (a `shutdown()` ends the
     * wait). The outcome goes through core's `completeRequest`: on failure
     * `handleError`, then always `shutdownRequest`, here.
     */
    override processRequest(request: unknown, clientAddress: unknown): Awaitable<void> {
      const pool = this.#pool();
      if (pool.full) {
        this.#holding++;
        return this.#waitForRoom(pool).then(() => {
          this.#holding--;
          this.#submit(pool, request, clientAddress);
        });
      }
      this.#submit(pool, request, clientAddress);
    }

    #submit(pool: HostPool, request: unknown, clientAddress: unknown): void {
      const job: HostJob = { request, clientAddress: clientAddress as Address };
      // A connection: the host may own it, and reports its end and its bytes.
      const hosted = (this as { [kHostedConnection]?: (socket: Socket) => HostJob['onEnded'] })[
        kHostedConnection
      ];
      if (hosted !== undefined) job.onEnded = hosted.call(this, request as Socket);
      void this.completeRequest(request, clientAddress, pool.submit(job));
    }

    /** Adds the mode, the hosts, and the requests waiting for one (queued, not active). */
    override stats(): ServerStats {
      const stats = super.stats();
      const waiting = hostPoolOf(this)?.waiting ?? 0;
      stats.mode = spec.driver.kind === 'thread' ? 'threading' : 'forking';
      stats.active -= waiting;
      stats.queued += waiting + this.#holding;
      stats.hosts = hostPoolOf(this)?.hosts ?? 0;
      return stats;
    }

    async #waitForRoom(pool: HostPool): Promise<void> {
      while (pool.full && !pool.closed && !this.shutdownRequested) await this.nextRequestEnd();
    }

    /** Also asks the hosts' handlers to close idle connections. */
    protected override closeIdleRequests(): void {
      super.closeIdleRequests();
      hostPoolOf(this)?.closeIdle();
    }

    /**
     * Closes the server, then the pool. With `blockOnClose` (and hosts that
     * may keep the process alive), waits for every request, waiting ones
     * included, and for every host to exit; a datagram server's hosts
     * finish before its socket, which carries their replies, closes.
     * Without, waiting requests are dropped and hosts finish on their own.
     */
    override async serverClose(): Promise<void> {
      const pool = hostPoolOf(this);
      const wait = this.blockOnClose && !(spec.daemon?.(this) ?? false);
      this.closeIdleRequests();
      if (pool !== undefined && wait && this instanceof DatagramServer) {
        await pool.close({ wait: true });
        await this.#requestsEnded();
      }
      await super.serverClose();
      if (pool === undefined) return;
      const closing = pool.close({ wait });
      if (!wait) return;
      await closing;
      await this.#requestsEnded();
    }

    async #requestsEnded(): Promise<void> {
      while (this.requestsInProgress > 0) await this.nextRequestEnd();
    }

    #pool(): HostPool {
      const existing = hostPoolOf(this);
      if (existing !== undefined) return existing;
      const settings: HostPoolSettings = {
        maxHosts: (this as unknown as Record<string, number>)[spec.maxHostsField]!,
        hostConcurrency: this.hostConcurrency,
        maxWaitingRequests: this.maxWaitingRequests,
        hostIdleTimeout: this.hostIdleTimeout,
        requestTimeLimit: this.requestTimeLimit,
        maxRequestsPerHost: this.maxRequestsPerHost,
        hostExecArgv: this.hostExecArgv,
        daemon: spec.daemon?.(this) ?? false,
      };
      const pool = new HostPool({
        driver: spec.driver,
        settings: () => settings,
        names: { maxHosts: spec.maxHostsField },
        boot: () => ({
          handler: locateHandler(this.RequestHandlerClass),
          preparers: this.requestPreparers().map((prepare) => locateExport(prepare)),
          server: snapshotServer(this, spec.driver.kind),
          parentExecArgv: process.execArgv,
          connections: this[kPreparedInHosts] ? connectionSetupOf(this) : null,
        }),
        onStrayError: (error) => this.reportError(null, null, error),
      });
      pool.validate(this);
      assertNotEntryModule(locateHandler(this.RequestHandlerClass));
      for (const prepare of this.requestPreparers()) assertNotEntryModule(locateExport(prepare));
      Object.defineProperty(this, kHostPool, { value: pool, configurable: true });
      return pool;
    }
  }
  return HostMixed as unknown as TBase & (abstract new (...args: any[]) => HostedServer);
}
