/**
 * `EventLoopMixIn`: many requests at once on Node's event loop.
 *
 * @module
 */
import type { BaseServer } from './base-server.js';
import type { ServerStats } from './observe.js';
import type { Awaitable } from './types.js';

/** A server class `EventLoopMixIn` can extend: any {@link BaseServer} subclass. */
export type ServerClass = abstract new (...args: any[]) => BaseServer<any, any>;

/** What `EventLoopMixIn` adds to a server. */
export interface EventLoopServer {
  /** Whether `serverClose` waits for requests in progress (default true, as Python's `block_on_close`). */
  blockOnClose: boolean;
  /** The most requests handled at once; past it, new ones wait in the queue. `null` (default): no cap. */
  maxConcurrentRequests: number | null;
  /** Requests being handled now. */
  readonly activeRequests: number;
}

/**
 * Mix-in that handles each request concurrently on the event loop: the
 * seed's table of partly finished requests driven by `select()`, which is
 * Node's own model. Overrides `processRequest` (start the request through
 * core's `completeRequest` and return at once) and extends `serverClose`
 * (ask idle connections to close, then wait for handlers when
 * `blockOnClose`).
 *
 * ```ts
 * class EventLoopTCPServer extends EventLoopMixIn(TCPServer) {}
 * ```
 */
export function EventLoopMixIn<TBase extends ServerClass>(
  Base: TBase,
): TBase & (abstract new (...args: any[]) => EventLoopServer) {
  abstract class EventLoopMixed extends Base implements EventLoopServer {
    blockOnClose = true;
    maxConcurrentRequests: number | null = null;
    /** Requests taken from the queue that wait for a slot (`processRequest` holds them). */
    #holding = 0;

    get activeRequests(): number {
      return this.requestsInProgress;
    }

    /** Adds the mode, and the request waiting for a slot (queued). */
    override stats(): ServerStats {
      const stats = super.stats();
      stats.mode = 'eventloop';
      stats.queued += this.#holding;
      return stats;
    }

    /**
     * Starts handling the request and returns; waits first while
     * `maxConcurrentRequests` run. A `shutdown()` ends the wait: the request
     * in hand is then started at once rather than dropped.
     */
    override processRequest(request: unknown, clientAddress: unknown): Awaitable<void> {
      const cap = this.maxConcurrentRequests;
      if (cap !== null && this.requestsInProgress >= cap) {
        this.#holding++;
        return this.#waitForSlot(cap).then(() => {
          this.#holding--;
          void this.completeRequest(request, clientAddress);
        });
      }
      // Runs in the background; its promise never rejects.
      void this.completeRequest(request, clientAddress);
    }

    async #waitForSlot(cap: number): Promise<void> {
      while (this.requestsInProgress >= cap && !this.shutdownRequested) {
        await this.nextRequestEnd();
      }
    }

    /**
     * Asks idle connections to close, waits for requests in progress if
     * `blockOnClose`, then closes the server. (Python closes first; waiting
     * first lets a datagram handler in progress still send its reply from
     * the server's socket.)
     */
    override async serverClose(): Promise<void> {
      this.closeIdleRequests();
      if (this.blockOnClose) while (this.requestsInProgress > 0) await this.nextRequestEnd();
      await super.serverClose();
    }
  }
  return EventLoopMixed;
}
