/**
 * `ForkingMixIn`: each request handled in a child process (Python's
 * `socketserver.ForkingMixIn`), on a pool of reused children.
 *
 * @module
 */
import { Socket } from 'node:net';
import {
  type Address,
  type DatagramRequest,
  DatagramServer,
  locateHandler,
  type ServerClass,
} from '@socketserver/core';
import {
  ChildPool,
  type ChildPoolSettings,
  childEntryPath,
  type Job,
  submitJob,
} from './child-pool.js';

/** What `ForkingMixIn` adds to a server. */
export interface ForkingServer extends ChildPoolSettings {
  /**
   * Whether `serverClose` waits until every child has finished its request
   * and exited (default true, as Python's `block_on_close`).
   */
  blockOnClose: boolean;
  /** Process ids of the live children (Python's `active_children`; a set, empty when none). */
  readonly activeChildren: Set<number>;
  /** Requests waiting for a free child. */
  readonly waitingRequests: number;
  /**
   * Retires children idle longer than `childIdleTimeout`; with `blocking`,
   * waits until every child has finished its request and exited (Python's
   * `collect_children`). Called by `serviceActions` and `handleTimeout`.
   */
  collectChildren(options?: { blocking?: boolean }): Promise<void>;
}

/** Where a `ForkingMixIn` server keeps its pool (a registered symbol: shared by every copy of this package). */
const kPool = Symbol.for('@socketserver/mixin-forking.pool');

/** The child pool of a `ForkingMixIn` server, if it has one yet. Internal (for `forkHandoff`). */
export function poolOfServer(server: object): ChildPool | undefined {
  return (server as { [kPool]?: ChildPool })[kPool];
}

const pools = {
  get: poolOfServer,
  set(server: object, pool: ChildPool): void {
    Object.defineProperty(server, kPool, { value: pool, configurable: true });
  },
};

/**
 * Mix-in that handles each request in a child process (Python's
 * `ForkingMixIn`). Overrides `processRequest`; extends `serverClose`,
 * `serviceActions` and `handleTimeout` through `super`, as Python's does
 * (and `serverActivate`, to refuse a handler class a child could not find).
 *
 * ```ts
 * class ForkingTCPServer extends ForkingMixIn(TCPServer) {}
 * ```
 *
 * Node.js cannot `fork()` the running process, so children are separate
 * Node.js processes that import the handler's module: the handler class
 * must declare `static moduleUrl = import.meta.url` and be exported by its
 * name from a module that starts no server when imported.
 *
 * - Stream servers hand each accepted connection to a child (IPC handle
 *   passing); the child reads and writes it itself and closes it.
 * - Datagram servers pass each packet and client address to a child; the
 *   child's replies are sent from the server's own socket.
 *
 * Settings (fields, also accepted by `create`): `maxChildren` (40),
 * `maxRequestsPerChild` (null: no limit; 1: a fresh process per request),
 * `childIdleTimeout` (10,000 ms), `maxWaitingRequests` (64),
 * `childExecArgv` ([]), `blockOnClose` (true), and `timeout` (300,000 ms,
 * as Python's `ForkingMixIn.timeout`).
 *
 * State a handler changes in a child never reaches the parent or the other
 * children: `this.server` in a child is a copy of the server's plain-data
 * fields.
 */
export function ForkingMixIn<TBase extends ServerClass>(
  Base: TBase,
): TBase & (abstract new (...args: any[]) => ForkingServer) {
  abstract class ForkingMixed extends Base implements ForkingServer {
    /** `handleRequest`'s wait, in ms (300,000, as Python's `ForkingMixIn.timeout`). */
    override timeout: number | null = 300_000;
    /** Whether `serverClose` waits for every child (default true). */
    blockOnClose = true;
    /** The most children alive at once (default 40). */
    maxChildren = 40;
    /** Requests a child serves before it is replaced; `null` (default): no limit. */
    maxRequestsPerChild: number | null = null;
    /** Idle ms before a child exits; `null`: never (default 10,000). */
    childIdleTimeout: number | null = 10_000;
    /** Requests that may wait for busy children (default 64). */
    maxWaitingRequests = 64;
    /** Node.js options for new children (default `[]`). */
    childExecArgv: string[] = [];

    /** Process ids of the live children. */
    get activeChildren(): Set<number> {
      return pools.get(this)?.activeChildren ?? new Set();
    }

    /** Requests waiting for a free child. */
    get waitingRequests(): number {
      return pools.get(this)?.waitingRequests ?? 0;
    }

    /** Checks, before serving, that children can be started and can find the handler class. */
    override async serverActivate(): Promise<void> {
      locateHandler(this.RequestHandlerClass);
      childEntryPath();
      this.#syncPool(new ChildPool()).validate();
      await super.serverActivate();
    }

    /**
     * Gives the request to a child process and returns once the child has
     * it, or once it waits in the bounded queue of `maxWaitingRequests`
     * (when that is full too, waits for room). Errors in the child reach
     * `handleError`.
     */
    override async processRequest(request: unknown, clientAddress: unknown): Promise<void> {
      const location = locateHandler(this.RequestHandlerClass);
      const address = clientAddress as Address;
      const job: Job =
        request instanceof Socket
          ? {
              kind: 'stream',
              location,
              clientAddress: address,
              server: this,
              socket: request,
              onSettled: (error, dropped) => {
                if (error !== null) this.reportError(request, clientAddress, error);
                if (error !== null || dropped) {
                  Promise.resolve()
                    .then(() => this.closeRequest(request))
                    .catch(() => {});
                }
              },
            }
          : {
              kind: 'dgram',
              location,
              clientAddress: address,
              server: this,
              packet: (request as DatagramRequest).packet,
              sender: (request as DatagramRequest).socket,
              onSettled: (error) => {
                if (error !== null) this.reportError(request, clientAddress, error);
              },
            };
      await this.#pool()[submitJob](job);
    }

    /** Retires idle children, as Python's `collect_children` reaps them. */
    async collectChildren({ blocking = false }: { blocking?: boolean } = {}): Promise<void> {
      const pool = pools.get(this);
      if (pool === undefined) return;
      this.#syncPool(pool);
      await pool.collect({ blocking });
    }

    /** Runs the base's actions, then `collectChildren()`. May be extended, do not override. */
    override async serviceActions(): Promise<void> {
      await super.serviceActions();
      await this.collectChildren();
    }

    /** Runs the base's timeout handling, then `collectChildren()`. May be extended, do not override. */
    override async handleTimeout(): Promise<void> {
      await super.handleTimeout();
      await this.collectChildren();
    }

    /**
     * Closes the server, then the children: with `blockOnClose`, waits until
     * every child has finished (requests still waiting for a child are
     * served first) and exited; without, drops waiting requests and lets
     * children finish on their own. May be extended, do not override.
     */
    override async serverClose(): Promise<void> {
      const pool = pools.get(this);
      // A datagram child replies through the server's socket: let it finish before that closes.
      if (pool !== undefined && this.blockOnClose && this instanceof DatagramServer) {
        await pool.close({ wait: true });
      }
      await super.serverClose();
      if (pool !== undefined) await pool.close({ wait: this.blockOnClose });
    }

    #pool(): ChildPool {
      let pool = pools.get(this);
      if (pool === undefined) {
        pool = new ChildPool();
        pools.set(this, pool);
      }
      return this.#syncPool(pool);
    }

    #syncPool(pool: ChildPool): ChildPool {
      pool.maxChildren = this.maxChildren;
      pool.maxRequestsPerChild = this.maxRequestsPerChild;
      pool.childIdleTimeout = this.childIdleTimeout;
      pool.maxWaitingRequests = this.maxWaitingRequests;
      pool.childExecArgv = this.childExecArgv;
      return pool;
    }
  }
  return ForkingMixed;
}
