/**
 * `ChildPool`: the child processes that run handlers, spawned on demand up
 * to `maxChildren`, reused, retired when idle or after
 * `maxRequestsPerChild` requests, and replaced when one dies.
 *
 * @module
 */
import { type ChildProcess, fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Socket } from 'node:net';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import {
  type Address,
  ClosedError,
  type DatagramSender,
  type HandlerLocation,
  InvalidArgumentError,
  SocketServerError,
} from '@socketserver/core';
import { ChildExitedError, HandoffError } from './errors.js';
import {
  type ChildMessage,
  deserializeError,
  type JobMessage,
  type ParentMessage,
  serializeError,
  snapshotServer,
} from './protocol.js';

/** The settings of a {@link ChildPool}; `ForkingMixIn` servers have the same fields. */
export interface ChildPoolSettings {
  /** The most child processes alive at once, starting and exiting ones included (default 40, as Python's `max_children`). */
  maxChildren: number;
  /** Requests a child serves before it is replaced; `1` gives Python's fresh process per request; `null` (default): no limit. */
  maxRequestsPerChild: number | null;
  /** How long a child may stay idle before it exits, in ms; `null`: never (default 10,000). */
  childIdleTimeout: number | null;
  /** Requests that may wait for a child while all are busy (default 64); past it, the caller waits. */
  maxWaitingRequests: number;
  /** Node.js options for the child processes (default `[]`: not the parent's `process.execArgv`). */
  childExecArgv: string[];
}

/** The defaults of {@link ChildPoolSettings}. */
export const DEFAULT_CHILD_POOL_SETTINGS: Readonly<ChildPoolSettings> = Object.freeze({
  maxChildren: 40,
  maxRequestsPerChild: null,
  childIdleTimeout: 10_000,
  maxWaitingRequests: 64,
  childExecArgv: [],
});

/** One request for a child. Internal. */
export interface Job {
  kind: 'stream' | 'dgram';
  location: HandlerLocation;
  clientAddress: Address;
  /** The server the request came to: its plain fields become the child's `server`. */
  server: object;
  /** Stream: the connection, handed to the child. */
  socket?: Socket;
  /** Stream: bytes already read, which the child's `rfile` reads first. */
  prefix?: Buffer;
  /** Datagram: the packet. */
  packet?: Buffer;
  /** Datagram: sends the child's replies from the server's socket. */
  sender?: DatagramSender<Address>;
  /** Hand-off: data for the child's handler. */
  data?: unknown;
  /** Called once the child owns the connection (stream) or has the packet. */
  onDispatched?(pid: number): void;
  /**
   * Called once, when the request is over: `error` is the handler's error,
   * the child's death, or a failed hand-off; `dropped` when the pool closed
   * before a child could take it.
   */
  onSettled(error: Error | null, dropped: boolean): void;
}

/**
 * Internal: submits a job. Not part of the public API. A registered symbol,
 * so that two copies of this package (ESM and CJS, or source and build)
 * work with each other's pools.
 */
export const submitJob: unique symbol = Symbol.for('@socketserver/mixin-forking.submitJob') as any;

type State = 'starting' | 'idle' | 'busy' | 'retiring';

interface JobRecord {
  id: number;
  job: Job;
  settled: boolean;
  /** Stream: Node acknowledged the handle. */
  acked: boolean;
}

interface Child {
  process: ChildProcess;
  pid: number | undefined;
  state: State;
  ready: boolean;
  current: JobRecord | null;
  served: number;
  /** Servers this child has a stand-in for. */
  servers: Set<number>;
  idleTimer: NodeJS.Timeout | undefined;
  startTimer?: NodeJS.Timeout;
  fatal: Error | null;
  gone: boolean;
  exited: Promise<void>;
  markExited: () => void;
  /** After the current request: retire instead of taking more. */
  retireAfterJob: boolean;
}

const serverIds = new WeakMap<object, number>();
let nextServerId = 1;
/** Children starting at once: a burst queues behind them instead of paying for a process per request. */
const MAX_STARTING = Math.max(2, availableParallelism());
/** How long a child may take to start before it is killed (ms). */
const CHILD_START_TIMEOUT = 30_000;
/** How long to wait for the IPC channel to report its end after a child's exit (ms). */
const DISCONNECT_GRACE = 1_000;

let childScript: string | null = null;

/** The path of the child entry script (`dist/child.js` beside this module). */
export function childEntryPath(): string {
  if (childScript !== null) return childScript;
  const here = import.meta.url;
  // Running from the sources (the package's own tests): use the built script.
  const url = /\.[cm]?ts$/.test(here)
    ? new URL('../dist/child.js', here)
    : new URL('./child.js', here);
  const path = fileURLToPath(url);
  if (!existsSync(path)) {
    throw new SocketServerError(
      'ERR_SOCKETSERVER_CHILD_SCRIPT_MISSING',
      `the child process script ${path} is missing: build @socketserver/mixin-forking first`,
    );
  }
  childScript = path;
  return path;
}

/**
 * A pool of child processes that run request handlers. A `ForkingMixIn`
 * server owns one (its settings come from the server's fields); create your
 * own for {@link forkHandoff} when you want to size and close it yourself.
 *
 * Each child serves one request at a time. A request goes to an idle child
 * at once, else to the first child that becomes free; children start on
 * demand (a few at a time, about 65 ms each) while fewer than `maxChildren`
 * live, and a child is reused until it has served `maxRequestsPerChild`
 * requests or stayed idle `childIdleTimeout` ms. Requests waiting for busy
 * children are bounded by `maxWaitingRequests` (plus one per child still to
 * start); past it, submitting waits for room. A child that dies takes only
 * its own request down; later requests get a new child. Idle children do
 * not keep the process alive. Children exit when their IPC channel to this
 * process closes (this process ended), finishing their request for at most
 * 5 s more.
 */
export class ChildPool implements ChildPoolSettings {
  /** The most children alive at once (default 40). */
  maxChildren = DEFAULT_CHILD_POOL_SETTINGS.maxChildren;
  /** Requests a child serves before it is replaced; `null` (default): no limit. */
  maxRequestsPerChild = DEFAULT_CHILD_POOL_SETTINGS.maxRequestsPerChild;
  /** Idle ms before a child exits; `null`: never (default 10,000). */
  childIdleTimeout = DEFAULT_CHILD_POOL_SETTINGS.childIdleTimeout;
  /** Requests that may wait for busy children before submitting waits (default 64). */
  maxWaitingRequests = DEFAULT_CHILD_POOL_SETTINGS.maxWaitingRequests;
  /** Node.js options for new children (default `[]`). */
  childExecArgv: string[] = [];

  #children = new Set<Child>();
  #idle: Child[] = [];
  #waiting: Job[] = [];
  #roomWaiters: Array<() => void> = [];
  #drainWaiters: Array<() => void> = [];
  #nextJobId = 1;
  #starting = 0;
  #closed = false;
  /** Whether exiting children keep this process alive (false after `close({ wait: false })`). */
  #holdExiting = true;

  /** @param settings - any of {@link ChildPoolSettings}; the rest take their defaults. */
  constructor(settings: Partial<ChildPoolSettings> = {}) {
    Object.assign(this, settings);
    this.validate();
  }

  /** Process ids of the children alive now (starting, idle, busy or exiting). */
  get activeChildren(): Set<number> {
    const pids = new Set<number>();
    for (const child of this.#children) if (child.pid !== undefined) pids.add(child.pid);
    return pids;
  }

  /** Children handling a request now. */
  get busyChildren(): number {
    let busy = 0;
    for (const child of this.#children) if (child.current !== null) busy++;
    return busy;
  }

  /** Requests waiting for a child. */
  get waitingRequests(): number {
    return this.#waiting.length;
  }

  /** True once `close` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Throws {@link InvalidArgumentError} if a setting is out of range. */
  validate(): void {
    if (!Number.isInteger(this.maxChildren) || this.maxChildren < 1) {
      throw new InvalidArgumentError(
        `maxChildren must be an integer >= 1, got ${String(this.maxChildren)}`,
      );
    }
    const perChild = this.maxRequestsPerChild;
    if (perChild !== null && (!Number.isInteger(perChild) || perChild < 1)) {
      throw new InvalidArgumentError(
        `maxRequestsPerChild must be an integer >= 1 or null, got ${String(perChild)}`,
      );
    }
    const idle = this.childIdleTimeout;
    if (idle !== null && (typeof idle !== 'number' || !(idle >= 0))) {
      throw new InvalidArgumentError(
        `childIdleTimeout must be a number of ms >= 0 or null, got ${String(idle)}`,
      );
    }
    if (!Number.isInteger(this.maxWaitingRequests) || this.maxWaitingRequests < 0) {
      throw new InvalidArgumentError(
        `maxWaitingRequests must be an integer >= 0, got ${String(this.maxWaitingRequests)}`,
      );
    }
    if (!Array.isArray(this.childExecArgv)) {
      throw new InvalidArgumentError('childExecArgv must be an array of strings');
    }
  }

  /**
   * Gives a request to a child: an idle one at once, else the first child
   * to become free (children start on demand while fewer than `maxChildren`
   * live). Resolves once the request is placed; while more than
   * `maxWaitingRequests` requests already wait for busy children, waits for
   * room first. Rejects with `ClosedError` after `close`. Internal: used by
   * `ForkingMixIn` and `forkHandoff`.
   */
  async [submitJob](job: Job): Promise<void> {
    this.validate();
    for (;;) {
      if (this.#closed) throw new ClosedError('the child pool');
      if (this.#waiting.length === 0) {
        const idle = this.#idle.pop();
        if (idle !== undefined) {
          this.#assign(idle, job);
          return;
        }
      }
      // Room: the waiting bound, plus one place per child starting or still to be started.
      const room =
        this.maxWaitingRequests +
        this.#starting +
        Math.max(0, this.maxChildren - this.#children.size);
      if (this.#waiting.length < room) {
        this.#waiting.push(job);
        this.#spawnAsNeeded();
        return;
      }
      await new Promise<void>((resolve) => this.#roomWaiters.push(resolve));
    }
  }

  /**
   * Housekeeping (Python's `collect_children`): retires children idle for
   * longer than `childIdleTimeout`. With `blocking`, also asks every child to
   * exit once its current request is done, and resolves when all of them
   * have exited (new requests meanwhile start new children).
   */
  async collect({ blocking = false }: { blocking?: boolean } = {}): Promise<void> {
    const now = Date.now();
    for (const child of [...this.#idle]) {
      const limit = this.childIdleTimeout;
      if (blocking || (limit !== null && now - (child as IdleChild).idleSince >= limit)) {
        this.#retire(child);
      }
    }
    if (!blocking) return;
    const children = [...this.#children];
    // Busy and starting children exit once they have served the request they have or get.
    for (const child of children) if (child.state !== 'retiring') child.retireAfterJob = true;
    await Promise.all(children.map((child) => child.exited));
  }

  /**
   * Closes the pool: no new requests; children exit once their request is
   * done. With `wait` (default true), requests still waiting are served
   * first and the promise resolves when every child has exited; without it,
   * waiting requests are dropped (their connections closed) and exiting
   * children no longer keep the process alive. Idempotent.
   */
  async close({ wait = true }: { wait?: boolean } = {}): Promise<void> {
    this.#closed = true;
    if (!wait) this.#holdExiting = false;
    for (const resolve of this.#roomWaiters.splice(0)) resolve();
    if (!wait) {
      for (const job of this.#waiting.splice(0)) settleDropped(job);
    }
    for (const child of [...this.#children]) {
      if (child.state === 'idle') this.#retire(child);
      else child.retireAfterJob = true;
      if (!wait) unref(child);
    }
    if (!wait) return;
    if (this.#children.size === 0 && this.#waiting.length === 0) return;
    await new Promise<void>((resolve) => this.#drainWaiters.push(resolve));
  }

  /** Stops every child at once (SIGKILL) and drops waiting requests. For emergencies and tests. */
  destroy(): void {
    this.#closed = true;
    for (const resolve of this.#roomWaiters.splice(0)) resolve();
    for (const job of this.#waiting.splice(0)) settleDropped(job);
    for (const child of this.#children) child.process.kill('SIGKILL');
  }

  /** Starts children while requests wait for more than the starting ones, within the limits. */
  #spawnAsNeeded(): void {
    while (
      this.#waiting.length > this.#starting &&
      this.#children.size < this.maxChildren &&
      this.#starting < MAX_STARTING
    ) {
      if (!this.#spawn()) return;
    }
  }

  #spawn(): boolean {
    let proc: ChildProcess;
    try {
      proc = fork(childEntryPath(), [], {
        execArgv: [...this.childExecArgv],
        serialization: 'json',
        stdio: 'inherit',
      });
    } catch (error) {
      // The system refused a process: the oldest waiting request fails, not all of them.
      const job = this.#waiting.shift();
      this.#wakeRoom();
      if (job !== undefined) {
        settleSafely(job, error instanceof Error ? error : new Error(String(error)), false);
      }
      return false;
    }
    let markExited!: () => void;
    const child: Child = {
      process: proc,
      pid: proc.pid,
      state: 'starting',
      ready: false,
      current: null,
      served: 0,
      servers: new Set(),
      idleTimer: undefined,
      fatal: null,
      gone: false,
      exited: new Promise<void>((resolve) => {
        markExited = resolve;
      }),
      markExited: () => markExited(),
      retireAfterJob: false,
    };
    this.#children.add(child);
    this.#starting++;
    // A child that never reports ready (a hung preload, `--inspect-brk` in childExecArgv) is
    // killed, so that the requests waiting for it fail instead of waiting for ever.
    const startTimer = setTimeout(() => {
      child.fatal = new Error(`the child process did not start within ${CHILD_START_TIMEOUT} ms`);
      proc.kill('SIGKILL');
    }, CHILD_START_TIMEOUT);
    startTimer.unref();
    child.startTimer = startTimer;
    proc.on('message', (message: ChildMessage) => this.#onMessage(child, message));
    proc.on('internalMessage', (message: { cmd?: string }) => {
      // Node's own acknowledgement of a handle: the child holds the connection now.
      const record = child.current;
      if (record === null || record.job.kind !== 'stream' || record.acked) return;
      if (message?.cmd === 'NODE_HANDLE_ACK') record.acked = true;
      else if (message?.cmd === 'NODE_HANDLE_NACK') {
        // The child could not take the descriptor (for example, it has no free one). Node does
        // not resend a handle sent with keepOpen, so the request fails; the child is replaced.
        this.#settle(
          record,
          new HandoffError(`child process ${child.pid} could not receive the connection`),
        );
        child.current = null;
        this.#retire(child);
      }
    });
    proc.on('error', (error) => {
      // Spawning failed (no pid) or the channel failed; 'exit' may not follow a failed spawn.
      if (proc.pid === undefined) this.#gone(child, null, null, error);
    });
    proc.once('exit', (code, signal) => {
      if (!proc.connected) {
        this.#gone(child, code, signal);
        return;
      }
      // Messages the child sent before exiting arrive before the channel's end.
      const timer = setTimeout(() => this.#gone(child, code, signal), DISCONNECT_GRACE);
      proc.once('disconnect', () => {
        clearTimeout(timer);
        this.#gone(child, code, signal);
      });
    });
    return true;
  }

  #assign(child: Child, job: Job): void {
    clearTimeout(child.idleTimer);
    child.idleTimer = undefined;
    const record: JobRecord = { id: this.#nextJobId++, job, settled: false, acked: false };
    child.current = record;
    child.state = 'busy';
    child.process.ref();
    child.process.channel?.ref();
    this.#send(child, record);
  }

  #send(child: Child, record: JobRecord): void {
    const { job } = record;
    let sv = serverIds.get(job.server);
    if (sv === undefined) {
      sv = nextServerId++;
      serverIds.set(job.server, sv);
    }
    const message: JobMessage = {
      t: 'job',
      id: record.id,
      kind: job.kind,
      h: job.location,
      addr: job.clientAddress,
      sv,
    };
    if (!child.servers.has(sv)) message.snap = snapshotServer(job.server);
    if (job.data !== undefined) message.data = job.data;
    try {
      if (job.kind === 'stream') {
        const socket = job.socket!;
        if (socket.destroyed) {
          // The peer went away while the request waited: nothing to serve.
          this.#finish(child, record, null, true);
          return;
        }
        if (job.prefix !== undefined && job.prefix.length > 0) {
          message.pre = job.prefix.toString('base64');
        }
        // keepOpen: the parent keeps its descriptor until the message is written, then closes
        // it here (destroy, never end: an end would send FIN for the child). A descriptor in
        // flight to a child that dies is released by the kernel, so the peer sees a close.
        child.process.send(message, socket, { keepOpen: true }, (error) => {
          socket.destroy();
          if (error) {
            this.#handoffFailed(child, record, error);
            return;
          }
          child.servers.add(sv);
          job.onDispatched?.(child.pid!);
        });
      } else {
        message.pkt = job.packet!.toString('base64');
        child.process.send(message, (error) => {
          if (error) {
            this.#handoffFailed(child, record, error);
            return;
          }
          child.servers.add(sv);
          job.onDispatched?.(child.pid!);
        });
      }
    } catch (error) {
      // Nothing was sent (for example, `data` could not be serialized): the child is still free.
      this.#finish(
        child,
        record,
        new HandoffError(`the request could not be sent to child process ${child.pid}`, {
          cause: error,
        }),
      );
    }
  }

  #handoffFailed(child: Child, record: JobRecord, error: Error): void {
    if (record.settled) return;
    this.#settle(
      record,
      new HandoffError(
        `the request could not be handed to child process ${child.pid}: ${error.message}`,
        { cause: error },
      ),
    );
    if (child.current === record) child.current = null;
    // A channel that failed to write is broken: replace the child.
    this.#retire(child);
    child.process.kill('SIGKILL');
  }

  #onMessage(child: Child, message: ChildMessage): void {
    switch (message?.t) {
      case 'ready': {
        if (child.ready) return;
        child.ready = true;
        clearTimeout(child.startTimer);
        this.#starting--;
        if (child.state !== 'retiring') this.#release(child);
        // One fewer starting: more may start if requests still wait.
        this.#spawnAsNeeded();
        return;
      }
      case 'done': {
        const record = child.current;
        if (record === null || record.id !== message.id) return;
        child.served++;
        const error = message.err ? deserializeError(message.err, child.pid) : null;
        if (message.load) child.retireAfterJob = true;
        this.#finish(child, record, error);
        return;
      }
      case 'sendto': {
        const record = child.current;
        if (record === null || record.id !== message.id || !record.job.sender) return;
        const reply = (err?: unknown) => {
          const sent: ParentMessage = { t: 'sent', seq: message.seq };
          if (err !== undefined) sent.err = serializeError(err);
          if (child.process.connected) child.process.send(sent, ignoreError);
        };
        const sender = record.job.sender;
        Promise.resolve()
          .then(() => sender.sendTo(Buffer.from(message.data, 'base64'), message.addr))
          .then(() => reply(), reply);
        return;
      }
      case 'fatal': {
        child.fatal = deserializeError(message.err, child.pid);
        return;
      }
    }
  }

  /** A request is over: settle it, then give the child the next one, retire it, or let it idle. */
  #finish(child: Child, record: JobRecord, error: Error | null, dropped = false): void {
    if (child.current === record) child.current = null;
    if (dropped) {
      if (!record.settled) {
        record.settled = true;
        settleSafely(record.job, null, true);
      }
    } else this.#settle(record, error);
    const perChild = this.maxRequestsPerChild;
    if (child.gone || child.state === 'retiring') return;
    if (child.retireAfterJob || (perChild !== null && child.served >= perChild)) {
      this.#retire(child);
      this.#spawnAsNeeded();
      return;
    }
    this.#release(child);
  }

  /** A ready child is free: it takes the oldest waiting request, or retires (pool closed), or idles. */
  #release(child: Child): void {
    const next = this.#waiting.shift();
    if (next !== undefined) {
      this.#wakeRoom();
      this.#assign(child, next);
      return;
    }
    if (this.#closed || child.retireAfterJob) {
      this.#retire(child);
      return;
    }
    this.#makeIdle(child);
  }

  #settle(record: JobRecord, error: Error | null): void {
    if (record.settled) return;
    record.settled = true;
    settleSafely(record.job, error, false);
  }

  #makeIdle(child: Child): void {
    child.state = 'idle';
    (child as IdleChild).idleSince = Date.now();
    this.#idle.push(child);
    unref(child);
    const limit = this.childIdleTimeout;
    if (limit !== null) {
      child.idleTimer = setTimeout(() => {
        if (child.state === 'idle') this.#retire(child);
      }, limit);
      child.idleTimer.unref();
    }
  }

  #retire(child: Child): void {
    if (child.state === 'retiring' || child.gone) return;
    child.state = 'retiring';
    clearTimeout(child.idleTimer);
    const index = this.#idle.indexOf(child);
    if (index >= 0) this.#idle.splice(index, 1);
    if (this.#holdExiting) {
      // An exiting child is waited for (briefly: its lingering connections at most).
      child.process.ref();
      child.process.channel?.ref();
    } else unref(child);
    if (child.process.connected) {
      child.process.send({ t: 'retire' } satisfies ParentMessage, (error) => {
        if (error) child.process.kill('SIGKILL');
      });
    } else child.process.kill('SIGKILL');
  }

  #gone(
    child: Child,
    code: number | null,
    signal: NodeJS.Signals | null,
    spawnError?: Error,
  ): void {
    if (child.gone) return;
    child.gone = true;
    clearTimeout(child.idleTimer);
    clearTimeout(child.startTimer);
    this.#children.delete(child);
    const index = this.#idle.indexOf(child);
    if (index >= 0) this.#idle.splice(index, 1);
    if (!child.ready) this.#starting--;
    const record = child.current;
    child.current = null;
    if (record === null && !child.ready && child.state !== 'retiring') {
      // It died while starting: the oldest waiting request fails with it, so a child that
      // can never start fails requests one by one instead of being restarted for ever.
      const job = this.#waiting.shift();
      if (job !== undefined) {
        this.#wakeRoom();
        settleSafely(
          job,
          new ChildExitedError(child.pid, code, signal, job.clientAddress, {
            ready: false,
            ...((spawnError ?? child.fatal) ? { cause: (spawnError ?? child.fatal)! } : {}),
          }),
          false,
        );
      }
    }
    if (record !== null) {
      const cause = spawnError ?? child.fatal ?? undefined;
      this.#settle(
        record,
        new ChildExitedError(child.pid, code, signal, record.job.clientAddress, {
          ready: child.ready,
          ...(cause ? { cause } : {}),
        }),
      );
    }
    child.markExited();
    this.#spawnAsNeeded();
    if (this.#children.size === 0 && this.#waiting.length === 0) {
      for (const resolve of this.#drainWaiters.splice(0)) resolve();
    }
  }

  #wakeRoom(): void {
    this.#roomWaiters.shift()?.();
  }
}

type IdleChild = Child & { idleSince: number };

function unref(child: Child): void {
  child.process.unref();
  child.process.channel?.unref();
}

function settleDropped(job: Job): void {
  settleSafely(job, null, true);
}

/** Calls a job's `onSettled`; a failure there must not break the pool's bookkeeping. */
function settleSafely(job: Job, error: Error | null, dropped: boolean): void {
  try {
    job.onSettled(error, dropped);
  } catch {
    // The caller's callback failed: nothing more the pool can do for this request.
  }
}

function ignoreError(): void {}
