/**
 * `HostPool`: the hosts (worker threads or child processes) that run a
 * server's handlers, written once for both: sizing, placing requests,
 * bounded waiting, retirement, time limits, faults and closing. A
 * {@link HostDriver} starts hosts and moves requests to them.
 *
 * @module
 */
import { ClosedError } from '../errors.js';
import { NOT_SERVED } from '../observe.js';
import type { Address } from '../types.js';
import { HostExitedError, type HostKind, RequestTimeLimitError } from './errors.js';
import { type HostPoolSettings, validateHostPoolSettings } from './settings.js';
import {
  type FromHost,
  fromWire,
  type HostBoot,
  type ModuleExport,
  type ToHost,
  toWire,
} from './wire.js';

/** One request for a host. */
export interface HostJob {
  /** The request as the server got it: a `net.Socket`, or a datagram request (`{ packet, socket }`). */
  readonly request: unknown;
  /** The peer. */
  readonly clientAddress: Address;
  /** Another handler than the pool's (a hand-off). */
  readonly handler?: ModuleExport;
  /** Bytes already read from the connection, for the handler's `rfile` first (a hand-off). */
  readonly prefix?: Uint8Array;
  /** Data set as the handler's `handoffData` (a hand-off). */
  readonly data?: unknown;
  /** The server the request came to, when it is not the pool's (a hand-off): a key and its snapshot. */
  readonly server?: { key: number; snapshot: Record<string, unknown> };
  /** Called once the host owns the request. */
  onDispatched?(hostId: number): void;
  /**
   * Called when the request is over for the pool, with the bytes its
   * connection carried when its host owned it (read, written), or none.
   */
  onEnded?(io?: readonly [number, number]): void;
}

/** What a driver reports about a host it started. */
export interface HostEvents {
  /** A message from the host (the driver keeps the ones it handles itself). */
  message(message: FromHost): void;
  /** Request `id` failed before its handler could finish it (a failed hand-off). */
  failed(id: number, error: Error): void;
  /** The host owns request `id` now. */
  dispatched(id: number): void;
  /** The host is gone (`error`: its uncaught error, if the driver saw one). */
  exit(code: number | null, signal: string | null, error?: Error): void;
}

/** A started host, as the pool drives it. */
export interface HostProcess {
  /** Its thread id or process id. */
  readonly id: number | undefined;
  /** Starts request `id` in the host: moves, hands off or bridges it. Throws when it cannot. */
  dispatch(id: number, job: HostJob): void;
  /** Forgets request `id` (it is over for the server): stops bridging it. */
  release(id: number, aborted: boolean): void;
  /** Sends a control message. */
  send(message: ToHost): void;
  /** Whether the host may keep this process alive. */
  keepAlive(on: boolean): void;
  /** Stops the host at once. */
  terminate(): void;
}

/** Starts hosts of one kind. */
export interface HostDriver {
  readonly kind: HostKind;
  /** Starts a host with `boot` (built by the pool when the host starts). */
  start(boot: HostBoot, events: HostEvents, settings: HostPoolSettings): HostProcess;
}

/** How long a host may keep a request it was told to abort before it is stopped (ms). */
const ABORT_GRACE = 1_000;

type HostState = 'starting' | 'ready' | 'retiring' | 'gone';

interface PoolHost {
  process: HostProcess | null;
  state: HostState;
  /** Requests assigned to it and not over. */
  jobs: Map<number, JobState>;
  /** Requests assigned while it starts, dispatched when it is ready. */
  pending: JobState[];
  /** Requests assigned over its life. */
  served: number;
  idleTimer: NodeJS.Timeout | null;
  /** Its handler failed to load (reported before it exits). */
  loadError: Error | null;
  /** Its uncaught error (reported before it exits). */
  fatal: Error | null;
  /** Aborted requests it still holds, with the timer that stops it. */
  aborting: Map<number, NodeJS.Timeout>;
  /** Called once it is ready (the pool's first host: `start()` waits for it). */
  onReady: (() => void) | null;
  /** How many updates (see `HostPool.update`) its boot included. */
  updates: number;
  /** How it ended: its exit code, or the signal that ended it. */
  exitCode: number | null;
  exitSignal: string | null;
  exited: Promise<void>;
  markExited(): void;
}

interface JobState {
  id: number;
  job: HostJob;
  host: PoolHost | null;
  settled: boolean;
  timer: NodeJS.Timeout | null;
  /** What the host reported with `done`. */
  done: Extract<FromHost, { t: 'done' }> | null;
  resolve(served: typeof NOT_SERVED | undefined): void;
  reject(error: Error): void;
}

/** Where a pool's settings and boot come from: its server (a mix-in) or its owner. */
export interface HostPoolOptions {
  driver: HostDriver;
  /** The current settings (read when the pool needs them, so they follow the server's fields). */
  settings(): HostPoolSettings;
  /** Names of the settings as the owner's users know them (`maxThreads` for `maxHosts`). */
  names?: Partial<Record<keyof HostPoolSettings, string>>;
  /** Builds each host's boot data (at each start: a host sees the server as it is then). */
  boot(): HostBoot;
  /** An error no request owns (a host's uncaught error between requests). */
  onStrayError(error: Error): void;
  /** Whether idle retirement spares the first host, so a server always has one ready (default true). */
  keepFirst?: boolean;
}

/**
 * The hosts of one server (or of a `ChildPool`). Hosts start on demand up
 * to `maxHosts`; a request goes to the host serving the fewest, a new host
 * starting when every live one is busy; each host serves up to
 * `hostConcurrency` requests at once, and past that requests wait, at most
 * `maxWaitingRequests`. Hosts retire when idle (all but one) and after
 * `maxRequestsPerHost`, and are replaced when they die; a host's death fails
 * only its own requests.
 */
export class HostPool {
  #options: HostPoolOptions;
  #hosts = new Set<PoolHost>();
  #waiting: JobState[] = [];
  #roomWaiters: Array<() => void> = [];
  #nextId = 1;
  /** The last update sent to the hosts (see `update`), and how many there were. */
  #update: ToHost | null = null;
  #updates = 0;
  #closing = false;
  /** Whether retiring hosts keep the process alive (false after `close({ wait: false })`). */
  #holdExiting = true;
  #first: Promise<void> | null = null;

  /** @param options - the driver, where settings and boot data come from. */
  constructor(options: HostPoolOptions) {
    this.#options = options;
  }

  /** The hosts' kind. */
  get kind(): HostKind {
    return this.#options.driver.kind;
  }

  /** Ids (thread ids, pids) of the live hosts: starting, serving, or retiring. */
  get hostIds(): Set<number> {
    const ids = new Set<number>();
    for (const host of this.#hosts) if (host.process?.id !== undefined) ids.add(host.process.id);
    return ids;
  }

  /** Live hosts. */
  get hosts(): number {
    return this.#hosts.size;
  }

  /** Requests assigned to hosts and not over. */
  get running(): number {
    let running = 0;
    for (const host of this.#hosts) running += host.jobs.size;
    return running;
  }

  /** Requests waiting for room on a host. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** True when `maxWaitingRequests` requests wait: the caller should wait ({@link whenRoom}) before submitting. */
  get full(): boolean {
    return this.#waiting.length >= this.#settings().maxWaitingRequests && !this.#hasRoom();
  }

  /** True once `close` was called. */
  get closed(): boolean {
    return this.#closing;
  }

  /** Throws `InvalidArgumentError` when a setting is out of range. */
  validate(owner?: object): void {
    validateHostPoolSettings(this.#options.settings(), this.#options.names, owner);
  }

  /**
   * Starts the first host and waits until it has loaded the handler;
   * rejects with the load error (or the host's death). Idempotent.
   */
  start(): Promise<void> {
    if (this.#first !== null) return this.#first;
    this.validate();
    const host = this.#spawn();
    this.#first = new Promise<void>((resolve, reject) => {
      host.exited.then(() =>
        reject(host.loadError ?? this.#exitError(host, host.exitCode, host.exitSignal, true)),
      );
      host.onReady = resolve;
    });
    this.#first.catch(() => {
      this.#first = null;
    });
    return this.#first;
  }

  /** Resolves when there is room to submit, or the pool closes. */
  whenRoom(): Promise<void> {
    if (!this.full || this.#closing) return Promise.resolve();
    return new Promise((resolve) => this.#roomWaiters.push(resolve));
  }

  /**
   * Places a request on a host (or in the waiting list). The promise
   * settles with the request's outcome: resolves when its handler returned
   * (or the pool dropped it unserved), rejects with the handler's error, the
   * host's death, a failed hand-off or the time limit.
   */
  submit(job: HostJob): Promise<typeof NOT_SERVED | undefined> {
    return new Promise((resolve, reject) => {
      const state: JobState = {
        id: this.#nextId++,
        job,
        host: null,
        settled: false,
        timer: null,
        done: null,
        resolve,
        reject,
      };
      if (this.#closing && this.#hosts.size === 0) {
        this.#settle(state, new ClosedError('the server'));
        return;
      }
      if (!this.#place(state)) this.#waiting.push(state);
    });
  }

  /** Asks every host's handlers to close their connections when idle (`closeWhenIdle`). */
  closeIdle(): void {
    this.broadcast({ t: 'closeIdle' });
  }

  /** Sends a control message to every host that is ready. */
  broadcast(message: ToHost): void {
    for (const host of this.#hosts) if (host.state === 'ready') host.process?.send(message);
  }

  /**
   * Sends every host a change of what its boot said (the connection setup:
   * a new certificate): hosts that are ready get it now, hosts still
   * starting (booted with the old one) as soon as they are ready, before
   * any request; hosts started later have it in their boot.
   */
  update(message: ToHost): void {
    this.#update = message;
    this.#updates++;
    this.broadcast(message);
  }

  /**
   * Python's `collect_children`. Idle hosts retire on their own, after
   * `hostIdleTimeout`; with `blocking`, asks every host to exit once its
   * requests are done and resolves when they have (new requests meanwhile
   * start new hosts).
   */
  async collect({ blocking = false }: { blocking?: boolean } = {}): Promise<void> {
    if (!blocking) return;
    const hosts = [...this.#hosts];
    for (const host of hosts) this.#retire(host);
    await Promise.all(hosts.map((host) => host.exited));
  }

  /**
   * Closes the pool: no new requests. With `wait`, requests still waiting
   * are served first, and the promise resolves when every host has exited;
   * without, waiting requests are dropped (their outcome resolves unserved)
   * and hosts finish their requests without keeping the process alive.
   * Idempotent.
   */
  async close({ wait }: { wait: boolean }): Promise<void> {
    this.#closing = true;
    if (!wait) {
      this.#holdExiting = false;
      for (const state of this.#waiting.splice(0)) this.#settle(state, null);
    }
    this.#wakeRoom();
    for (const host of [...this.#hosts]) {
      if (host.jobs.size === 0 && this.#waiting.length === 0) this.#retire(host);
      if (!wait) host.process?.keepAlive(false);
    }
    if (!wait) return;
    while (this.#hosts.size > 0) await Promise.all([...this.#hosts].map((host) => host.exited));
  }

  /** Stops every host at once and drops waiting requests. For emergencies and tests. */
  destroy(): void {
    this.#closing = true;
    for (const state of this.#waiting.splice(0)) this.#settle(state, null);
    this.#wakeRoom();
    for (const host of this.#hosts) host.process?.terminate();
  }

  #settings(): HostPoolSettings {
    return this.#options.settings();
  }

  /** Whether a request could be placed on a host now (or a host added). */
  #hasRoom(): boolean {
    return this.#choose() !== null || this.#canSpawn();
  }

  /** Whether another host may start: every live host counts, starting and exiting ones too. */
  #canSpawn(): boolean {
    return this.#hosts.size < this.#settings().maxHosts;
  }

  /** The host serving the fewest requests among those with room (`readyOnly`: started ones), or null. */
  #choose(readyOnly = false): PoolHost | null {
    const { hostConcurrency, maxRequestsPerHost } = this.#settings();
    let best: PoolHost | null = null;
    for (const host of this.#hosts) {
      if (host.state !== 'ready' && (readyOnly || host.state !== 'starting')) continue;
      // A host told to drop a request it has not let go of yet may be stuck: nothing more for it.
      if (host.aborting.size > 0 || host.jobs.size >= hostConcurrency) continue;
      if (maxRequestsPerHost !== null && host.served >= maxRequestsPerHost) continue;
      if (best === null || host.jobs.size < best.jobs.size) best = host;
    }
    return best;
  }

  /**
   * Assigns the request to a host, starting one when every live host is
   * busy. A connection may wait for a host that is starting (it spreads
   * long-lived connections over the hosts); a datagram, a whole request that
   * its client times out on, goes to a started host when one has room, and
   * the new host takes later ones. False: no host has room.
   */
  #place(state: JobState): boolean {
    const datagram = isDatagram(state.job.request);
    let host = (datagram ? this.#choose(true) : null) ?? this.#choose();
    if ((host === null || host.jobs.size > 0) && this.#canSpawn()) {
      const spawned = this.#spawn();
      if (!datagram || host === null || host.state !== 'ready') host = spawned;
    }
    if (host === null) return false;
    this.#assign(host, state);
    return true;
  }

  #assign(host: PoolHost, state: JobState): void {
    if (host.idleTimer !== null) {
      clearTimeout(host.idleTimer);
      host.idleTimer = null;
    }
    state.host = host;
    host.jobs.set(state.id, state);
    host.served++;
    if (!this.#settings().daemon) host.process?.keepAlive(true);
    if (host.state === 'ready') this.#dispatch(host, state);
    else host.pending.push(state);
  }

  #dispatch(host: PoolHost, state: JobState): void {
    const limit = this.#settings().requestTimeLimit;
    if (limit !== null) {
      state.timer = setTimeout(() => this.#timeLimit(state, limit), limit);
      state.timer.unref();
    }
    try {
      host.process!.dispatch(state.id, state.job);
    } catch (error) {
      this.#settle(state, error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** The request ran too long: it fails now; its host must let go of it, or it is stopped. */
  #timeLimit(state: JobState, limit: number): void {
    const host = state.host;
    if (state.settled || host === null) return;
    this.#settle(state, new RequestTimeLimitError(limit), true);
    if (host.state === 'gone') return;
    host.process?.send({ t: 'abort', id: state.id });
    const grace = setTimeout(() => host.process?.terminate(), ABORT_GRACE);
    grace.unref();
    host.aborting.set(state.id, grace);
  }

  #spawn(): PoolHost {
    let markExited!: () => void;
    const host: PoolHost = {
      process: null,
      state: 'starting',
      jobs: new Map(),
      pending: [],
      served: 0,
      idleTimer: null,
      loadError: null,
      fatal: null,
      aborting: new Map(),
      onReady: null,
      updates: this.#updates,
      exitCode: null,
      exitSignal: null,
      exited: new Promise<void>((resolve) => {
        markExited = resolve;
      }),
      markExited: () => markExited(),
    };
    this.#hosts.add(host);
    const events: HostEvents = {
      message: (message) => this.#onMessage(host, message),
      failed: (id, error) => {
        const state = host.jobs.get(id);
        if (state !== undefined) this.#settle(state, error);
      },
      dispatched: (id) => {
        const state = host.jobs.get(id);
        if (state !== undefined && host.process?.id !== undefined) {
          state.job.onDispatched?.(host.process.id);
        }
      },
      exit: (code, signal, error) => this.#onExit(host, code, signal, error),
    };
    try {
      host.process = this.#options.driver.start(this.#options.boot(), events, this.#settings());
    } catch (error) {
      queueMicrotask(() => this.#onExit(host, null, null, error as Error));
      return host;
    }
    host.process.keepAlive(!this.#settings().daemon);
    return host;
  }

  #onMessage(host: PoolHost, message: FromHost): void {
    switch (message.t) {
      case 'ready': {
        if (host.state !== 'starting') return;
        host.state = 'ready';
        if (host.updates < this.#updates && this.#update !== null) {
          host.process?.send(this.#update);
        }
        host.onReady?.();
        for (const state of host.pending.splice(0)) if (!state.settled) this.#dispatch(host, state);
        this.#afterChange(host);
        return;
      }
      case 'loadError':
        host.loadError = fromWire(message.err);
        return;
      case 'fatal':
        host.fatal = fromWire(message.err);
        return;
      case 'done': {
        const grace = host.aborting.get(message.id);
        if (grace !== undefined) {
          clearTimeout(grace);
          host.aborting.delete(message.id);
          this.#placeWaiting();
        }
        const state = host.jobs.get(message.id);
        if (state === undefined) return;
        state.done = message;
        this.#settle(state, message.err ? fromWire(message.err) : null);
        return;
      }
      case 'sendto': {
        const state = host.jobs.get(message.id);
        if (state === undefined) return;
        this.#sendTo(host, state, message);
        return;
      }
    }
  }

  /** A datagram handler's reply, sent from the server's own socket. */
  #sendTo(host: PoolHost, state: JobState, message: Extract<FromHost, { t: 'sendto' }>): void {
    const request = state.job.request as {
      socket: { sendTo(data: Uint8Array, address: Address): Promise<void> };
    };
    const reply = (error?: unknown) => {
      if (host.state === 'gone') return;
      host.process?.send({
        t: 'sent',
        id: message.id,
        seq: message.seq,
        ...(error === undefined ? {} : { err: toWire(error) }),
      });
    };
    Promise.resolve()
      .then(() => request.socket.sendTo(message.data, message.addr))
      .then(() => reply(), reply);
  }

  #onExit(host: PoolHost, code: number | null, signal: string | null, error?: Error): void {
    if (host.state === 'gone') return;
    const wasStarting = host.state === 'starting';
    host.state = 'gone';
    host.exitCode = code;
    host.exitSignal = signal;
    if (host.idleTimer !== null) clearTimeout(host.idleTimer);
    for (const grace of host.aborting.values()) clearTimeout(grace);
    this.#hosts.delete(host);
    if (error !== undefined && host.fatal === null) host.fatal = error;
    const held = [...host.jobs.values()];
    for (const state of held) {
      this.#settle(
        state,
        host.loadError ?? this.#exitError(host, code, signal, wasStarting, state.job.clientAddress),
      );
    }
    host.pending = [];
    // An uncaught error while it held no request: nobody else will hear of it.
    if (held.length === 0 && !wasStarting && host.fatal !== null && host.loadError === null) {
      this.#options.onStrayError(host.fatal);
    }
    host.markExited();
    this.#placeWaiting();
  }

  #exitError(
    host: PoolHost,
    code: number | null,
    signal: string | null,
    starting: boolean,
    clientAddress: Address | null = null,
  ): Error {
    return new HostExitedError(this.kind, host.process?.id, code, signal, clientAddress, {
      starting,
      ...(host.fatal === null ? {} : { cause: host.fatal }),
    });
  }

  /**
   * Records a request's outcome (once) and frees its place. `aborted`: the
   * host may still hold it (time limit).
   */
  #settle(state: JobState, error: Error | null, aborted = false): void {
    if (state.settled) return;
    state.settled = true;
    if (state.timer !== null) clearTimeout(state.timer);
    const host = state.host;
    if (host !== null) {
      host.jobs.delete(state.id);
      if (host.state !== 'gone') host.process?.release(state.id, aborted);
    }
    state.job.onEnded?.(state.done?.io);
    if (error === null) state.resolve(state.done?.gone === true ? NOT_SERVED : undefined);
    else state.reject(error);
    if (host !== null && host.state !== 'gone') this.#afterChange(host);
    this.#placeWaiting();
  }

  /** After a host's load changed: retire it, or let it idle. */
  #afterChange(host: PoolHost): void {
    const { maxRequestsPerHost, hostIdleTimeout, daemon } = this.#settings();
    if (host.state !== 'ready' || host.jobs.size > 0) return;
    const worn = maxRequestsPerHost !== null && host.served >= maxRequestsPerHost;
    if (worn || (this.#closing && this.#waiting.length === 0)) {
      this.#retire(host);
      return;
    }
    if (!daemon) host.process?.keepAlive(false);
    if (hostIdleTimeout === null || host.idleTimer !== null || this.#isFirst(host)) return;
    host.idleTimer = setTimeout(() => {
      host.idleTimer = null;
      if (host.jobs.size === 0 && host.state === 'ready' && !this.#isFirst(host))
        this.#retire(host);
    }, hostIdleTimeout);
    host.idleTimer.unref();
  }

  /** The longest-lived serving host, which idle retirement keeps (unless `keepFirst` is false). */
  #isFirst(host: PoolHost): boolean {
    if (this.#options.keepFirst === false) return false;
    for (const other of this.#hosts) if (other.state === 'ready') return other === host;
    return false;
  }

  #retire(host: PoolHost): void {
    if (host.state === 'retiring' || host.state === 'gone') return;
    const starting = host.state === 'starting';
    host.state = 'retiring';
    if (host.idleTimer !== null) {
      clearTimeout(host.idleTimer);
      host.idleTimer = null;
    }
    const { daemon } = this.#settings();
    host.process?.keepAlive(this.#holdExiting && !daemon);
    if (starting) host.process?.terminate();
    else host.process?.send({ t: 'retire' });
  }

  /** Gives waiting requests to hosts with room (starting hosts as needed); wakes submitters. */
  #placeWaiting(): void {
    while (this.#waiting.length > 0) {
      const state = this.#waiting[0]!;
      if (state.settled) {
        this.#waiting.shift();
        continue;
      }
      if (!this.#place(state)) break;
      this.#waiting.shift();
    }
    if (this.#closing && this.#waiting.length === 0) {
      for (const host of [...this.#hosts]) {
        if (host.jobs.size === 0 && host.state === 'ready') this.#retire(host);
      }
    }
    this.#wakeRoom();
  }

  #wakeRoom(): void {
    if (this.#roomWaiters.length === 0) return;
    if (this.full && !this.#closing) return;
    for (const wake of this.#roomWaiters.splice(0)) wake();
  }
}

/** Whether a request is a datagram (`{ packet, socket }`) rather than a connection. */
function isDatagram(request: unknown): boolean {
  return typeof request === 'object' && request !== null && 'packet' in request;
}
