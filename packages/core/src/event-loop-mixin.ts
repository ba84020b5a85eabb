/**
 * `EventLoopMixIn`: many requests at once on Node's event loop.
 *
 * @module
 */
import type { BaseServer } from './base-server.js';
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
    #inFlight = new Set<Promise<void>>();

    get activeRequests(): number {
      return this.#inFlight.size;
    }

    /**
     * Starts handling the request and returns; waits first while
     * `maxConcurrentRequests` run. A `shutdown()` ends the wait: the request
     * in hand is then started at once rather than dropped.
     */
    override processRequest(request: unknown, clientAddress: unknown): Awaitable<void> {
      const cap = this.maxConcurrentRequests;
      if (cap !== null && this.#inFlight.size >= cap) {
        return this.#waitForSlot(cap).then(() => this.#start(request, clientAddress));
      }
      this.#start(request, clientAddress);
    }

    /** Runs the request in the background; `#inFlight` holds a promise that never rejects. */
    #start(request: unknown, clientAddress: unknown): void {
      const settled: Promise<void> = this.#processRequestTask(request, clientAddress).then(
        () => {
          this.#inFlight.delete(settled);
        },
        (error: unknown) => {
          this.#inFlight.delete(settled);
          this.reportError(request, clientAddress, error);
        },
      );
      this.#inFlight.add(settled);
    }

    async #waitForSlot(cap: number): Promise<void> {
      let stop!: () => void;
      const stopped = new Promise<void>((resolve) => (stop = resolve));
      const unsubscribe = this.onShutdownRequested(stop);
      try {
        while (this.#inFlight.size >= cap && !this.shutdownRequested) {
          await Promise.race([...this.#inFlight, stopped]);
        }
      } finally {
        unsubscribe();
      }
    }

    async #processRequestTask(request: unknown, clientAddress: unknown): Promise<void> {
      try {
        await this.finishRequest(request, clientAddress);
      } catch (error) {
        await this.handleError(request, clientAddress, error);
      } finally {
        await this.shutdownRequest(request);
      }
    }

    /**
     * Waits for requests in progress if `blockOnClose`, then closes the
     * server. (Python closes first; waiting first lets a datagram handler in
     * progress still send its reply from the server's socket.)
     */
    override async serverClose(): Promise<void> {
      if (this.blockOnClose) await Promise.allSettled([...this.#inFlight]);
      await super.serverClose();
    }
  }
  return EventLoopMixed;
}
