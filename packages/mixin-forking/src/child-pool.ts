/**
 * `ChildPool`: child processes that run handlers for `forkHandoff`, on
 * core's host layer (the pool `ForkingMixIn` servers also stand on).
 *
 * @module
 */
import { ClosedError } from '@socketserver/core';
import {
  defaultHostPoolSettings,
  type HostJob,
  HostPool,
  type HostPoolSettings,
  processDriver,
} from '@socketserver/core/host';

/** The settings of a {@link ChildPool}: the host settings, under the forking mix-in's names. */
export interface ChildPoolSettings {
  /** The most child processes alive at once (default: the cores). */
  maxChildren: number;
  /** Requests one child serves at once (default 512; `1`: one at a time). */
  hostConcurrency: number;
  /** Requests that may wait while every child is full (default 64); past it, submitting waits. */
  maxWaitingRequests: number;
  /** Ms an idle child lives; `null`: for ever (default 10,000). */
  hostIdleTimeout: number | null;
  /** Ms a request may run; `null` (default): no limit. */
  requestTimeLimit: number | null;
  /** Requests a child serves before it is replaced; `null` (default): no limit. */
  maxRequestsPerHost: number | null;
  /** Node.js options for the children; `null` (default): the parent's. */
  hostExecArgv: string[] | null;
}

const hostDefaults = defaultHostPoolSettings();

/** The defaults of {@link ChildPoolSettings}: the host layer's, `maxHosts` named `maxChildren`. */
export const DEFAULT_CHILD_POOL_SETTINGS: Readonly<ChildPoolSettings> = Object.freeze({
  maxChildren: hostDefaults.maxHosts,
  hostConcurrency: hostDefaults.hostConcurrency,
  maxWaitingRequests: hostDefaults.maxWaitingRequests,
  hostIdleTimeout: hostDefaults.hostIdleTimeout,
  requestTimeLimit: hostDefaults.requestTimeLimit,
  maxRequestsPerHost: hostDefaults.maxRequestsPerHost,
  hostExecArgv: hostDefaults.hostExecArgv,
});

/** Internal: submits a hand-off. A registered symbol, so two copies of this package agree. */
export const submitJob: unique symbol = Symbol.for(
  '@socketserver/mixin-forking.submitJob',
) as never;

/**
 * A pool of child processes for {@link forkHandoff}, when you want to size
 * and close it yourself (`forkHandoff` uses {@link defaultChildPool}
 * otherwise). Children start on demand; each serves many requests at once;
 * idle ones exit after `hostIdleTimeout` and never keep the process alive.
 * Set the fields before the first hand-off.
 */
export class ChildPool implements ChildPoolSettings {
  maxChildren = DEFAULT_CHILD_POOL_SETTINGS.maxChildren;
  hostConcurrency = DEFAULT_CHILD_POOL_SETTINGS.hostConcurrency;
  maxWaitingRequests = DEFAULT_CHILD_POOL_SETTINGS.maxWaitingRequests;
  hostIdleTimeout = DEFAULT_CHILD_POOL_SETTINGS.hostIdleTimeout;
  requestTimeLimit = DEFAULT_CHILD_POOL_SETTINGS.requestTimeLimit;
  maxRequestsPerHost = DEFAULT_CHILD_POOL_SETTINGS.maxRequestsPerHost;
  hostExecArgv = DEFAULT_CHILD_POOL_SETTINGS.hostExecArgv;
  #pool: HostPool;

  /** @param settings - any of {@link ChildPoolSettings}; the rest take their defaults. */
  constructor(settings: Partial<ChildPoolSettings> = {}) {
    Object.assign(this, settings);
    this.#pool = new HostPool({
      driver: processDriver,
      settings: () => this.#settings(),
      names: { maxHosts: 'maxChildren' },
      boot: () => ({ handler: null, preparers: [], server: {}, parentExecArgv: process.execArgv }),
      onStrayError: () => {},
      keepFirst: false,
    });
    this.#pool.validate();
  }

  /** Process ids of the children alive now. */
  get activeChildren(): Set<number> {
    return this.#pool.hostIds;
  }

  /** Requests the children are handling now. */
  get busyRequests(): number {
    return this.#pool.running;
  }

  /** Requests waiting for room on a child. */
  get waitingRequests(): number {
    return this.#pool.waiting;
  }

  /** True once `close` was called. */
  get closed(): boolean {
    return this.#pool.closed;
  }

  /** As `ForkingMixIn`'s `collectChildren`. */
  collect(options: { blocking?: boolean } = {}): Promise<void> {
    return this.#pool.collect(options);
  }

  /**
   * No new requests; with `wait` (default true), serves the waiting ones and
   * resolves when every child has exited; without, drops them. Idempotent.
   */
  close({ wait = true }: { wait?: boolean } = {}): Promise<void> {
    return this.#pool.close({ wait });
  }

  /** Stops every child at once (SIGKILL) and drops waiting requests. */
  destroy(): void {
    this.#pool.destroy();
  }

  /**
   * Internal (for `forkHandoff`): places a request once there is room, and
   * resolves with its outcome (a promise inside an object: an async
   * function would flatten it).
   */
  async [submitJob](job: HostJob): Promise<{ outcome: Promise<unknown> }> {
    this.#pool.validate();
    await this.#pool.whenRoom();
    if (this.#pool.closed) throw new ClosedError('the child pool');
    return { outcome: this.#pool.submit(job) };
  }

  #settings(): HostPoolSettings {
    return {
      maxHosts: this.maxChildren,
      hostConcurrency: this.hostConcurrency,
      maxWaitingRequests: this.maxWaitingRequests,
      hostIdleTimeout: this.hostIdleTimeout,
      requestTimeLimit: this.requestTimeLimit,
      maxRequestsPerHost: this.maxRequestsPerHost,
      hostExecArgv: this.hostExecArgv,
      // Hand-offs are the caller's business: children that idle never keep the process alive.
      daemon: false,
    };
  }
}
