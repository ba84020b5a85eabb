/**
 * `EventLoopMixIn`: many requests at once on Node's event loop.
 *
 * @module
 */
import type { BaseServer } from './base-server.js';
import { isThenable } from './thenable.js';
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
 * Node's own model. Overrides `processRequest` (start the handler, return at
 * once) and extends `serverClose` (wait for handlers when `blockOnClose`).
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
    #active = 0;
    /** Woken each time a request finishes (and on shutdown): `#waitForSlot`, `serverClose`. */
    #waiters: Array<() => void> = [];

    get activeRequests(): number {
      return this.#active;
    }

    /**
     * Starts handling the request and returns; waits first while
     * `maxConcurrentRequests` run. A `shutdown()` ends the wait: the request
     * in hand is then started at once rather than dropped.
     */
    override processRequest(request: unknown, clientAddress: unknown): Awaitable<void> {
      const cap = this.maxConcurrentRequests;
      if (cap !== null && this.#active >= cap) {
        return this.#waitForSlot(cap).then(() => {
          void this.#processRequestTask(request, clientAddress);
        });
      }
      // Runs in the background; its promise never rejects. No closure or promise is kept per request.
      void this.#processRequestTask(request, clientAddress);
    }

    async #waitForSlot(cap: number): Promise<void> {
      const unsubscribe = this.onShutdownRequested(() => this.#wakeWaiters());
      try {
        while (this.#active >= cap && !this.shutdownRequested) await this.#nextFinish();
      } finally {
        unsubscribe();
      }
    }

    /** `finishRequest`, then `shutdownRequest`; errors go to `handleError`. Counted in `activeRequests`. */
    async #processRequestTask(request: unknown, clientAddress: unknown): Promise<void> {
      this.#active++;
      try {
        try {
          await this.finishRequest(request, clientAddress);
        } catch (error) {
          const handled = this.handleError(request, clientAddress, error);
          if (isThenable(handled)) await handled;
        } finally {
          const shut = this.shutdownRequest(request);
          if (isThenable(shut)) await shut;
        }
      } catch (error) {
        this.reportError(request, clientAddress, error);
      } finally {
        this.#active--;
        this.#wakeWaiters();
      }
    }

    #nextFinish(): Promise<void> {
      return new Promise((resolve) => this.#waiters.push(resolve));
    }

    #wakeWaiters(): void {
      if (this.#waiters.length === 0) return;
      for (const wake of this.#waiters.splice(0)) wake();
    }

    /**
     * Waits for requests in progress if `blockOnClose`, then closes the
     * server. (Python closes first; waiting first lets a datagram handler in
     * progress still send its reply from the server's socket.)
     */
    override async serverClose(): Promise<void> {
      if (this.blockOnClose) while (this.#active > 0) await this.#nextFinish();
      await super.serverClose();
    }
  }
  return EventLoopMixed;
}
