/**
 * `WorkerPool`: the worker threads of one `ThreadingMixIn` server. Threads
 * start on demand up to a maximum, are reused, retire when idle, and are
 * replaced when they die or are terminated for running too long. Internal.
 *
 * @module
 */
import { existsSync } from 'node:fs';
import type { Socket } from 'node:net';
import { Worker } from 'node:worker_threads';
import { ClosedError, type DatagramRequest, UnsupportedError } from '@socketserver/core';
import { Job, socketInfo } from './bridge.js';
import { RequestTimeLimitError, reviveError, WorkerExitedError } from './errors.js';
import {
  type Batch,
  FRAME_DATA,
  FRAME_WRITE,
  frame,
  framePayload,
  isFrameOf,
  type RequestStart,
  type Tagged,
  type ToMain,
  type WorkerBoot,
  type WorkerStatus,
} from './protocol.js';

/** How the pool behaves; read from the server's settings when the pool starts. */
export interface PoolOptions {
  /** Builds each worker's `workerData` (at each start, so it sees current settings). */
  boot: () => WorkerBoot;
  maxThreads: number;
  minThreads: number;
  idleTimeout: number;
  maxQueue: number;
  daemon: boolean;
  timeLimit: number | null;
  /** An uncaught error in a worker that held no request. */
  onStrayError: (error: unknown) => void;
}

interface PoolWorker {
  worker: Worker;
  /** The number of the request it runs now. */
  seq: number;
  starting: boolean;
  job: Job | null;
  idleTimer: NodeJS.Timeout | null;
  exiting: boolean;
  exited: Promise<void>;
}

/** The worker script: next to this module when built, `dist/` when run from sources in tests. */
function workerScript(): URL {
  const candidates = [
    new URL('./worker.js', import.meta.url),
    new URL('../dist/worker.js', import.meta.url),
  ];
  const found = candidates.find((url) => existsSync(url));
  if (found === undefined) {
    throw new UnsupportedError(
      `@socketserver/mixin-threading: worker script not found (${candidates[0]!.href}); build the package`,
    );
  }
  return found;
}

/** The worker threads of one server and the requests waiting for them. */
export class WorkerPool {
  #options: PoolOptions;
  #script = workerScript();
  #workers = new Set<PoolWorker>();
  #idle: PoolWorker[] = [];
  #queue: Job[] = [];
  #running = new Set<Job>();
  #startingCount = 0;
  #fatal: Error | null = null;
  #closing = false;
  #listeners: Array<() => void> = [];
  #sequence = 0;

  /** @param options - sizing and behaviour. */
  constructor(options: PoolOptions) {
    this.#options = options;
  }

  /** Live worker threads (starting, idle or busy). */
  get threads(): number {
    return this.#workers.size;
  }

  /** Requests running in a worker now. */
  get running(): number {
    return this.#running.size;
  }

  /** Requests waiting for a worker. */
  get queued(): number {
    return this.#queue.length;
  }

  /** True when the queue holds `maxQueue` requests: the caller should wait ({@link whenChanged}). */
  get full(): boolean {
    return this.#queue.length >= this.#options.maxQueue;
  }

  /** Resolves at the next change of the pool's state (a request started or ended, a worker came or went). */
  whenChanged(): Promise<void> {
    return new Promise((resolve) => this.#listeners.push(resolve));
  }

  /**
   * Hands a request to the pool. The returned job settles with the
   * request's outcome (a `ClosedError` after {@link close}, the load error
   * when the handler module cannot be loaded).
   */
  submit(request: unknown, clientAddress: Job['clientAddress']): Job {
    const job = new Job(kindOf(request), request, clientAddress);
    if (this.#closing) job.settle(new ClosedError('the server'));
    else if (this.#fatal !== null) job.settle(this.#fatal);
    else {
      this.#queue.push(job);
      this.#dispatch();
    }
    return job;
  }

  /**
   * Starts workers until `count` exist, and resolves when none is still
   * starting; rejects with the load error if the handler module cannot be
   * loaded.
   */
  async start(count: number): Promise<void> {
    while (this.#liveWorkers() < count && !this.#closing && this.#fatal === null) this.#spawn();
    while (this.#startingCount > 0 && this.#fatal === null) await this.whenChanged();
    if (this.#fatal !== null) throw this.#fatal;
  }

  /**
   * Stops the pool. Idle workers are terminated at once. With `wait`,
   * resolves once every queued and running request has settled and every
   * worker has exited; without, busy workers finish their request (queued
   * ones too) and then exit on their own.
   */
  async close(wait: boolean): Promise<void> {
    this.#closing = true;
    for (const pw of this.#idle.splice(0)) this.#terminate(pw);
    if (this.#queue.length === 0) {
      for (const pw of this.#workers) if (pw.starting) this.#terminate(pw);
    }
    this.#notify();
    if (!wait) return;
    while (this.#queue.length > 0 || this.#running.size > 0) {
      await Promise.allSettled([...this.#queue, ...this.#running].map((job) => job.promise));
    }
    for (const pw of this.#workers) this.#terminate(pw);
    await Promise.all([...this.#workers].map((pw) => pw.exited));
  }

  #dispatch(): void {
    while (this.#queue.length > 0 && this.#idle.length > 0) {
      this.#assign(this.#idle.pop()!, this.#queue.shift()!);
    }
    let wanted = this.#queue.length - this.#startingCount;
    while (wanted-- > 0 && this.#liveWorkers() < this.#options.maxThreads && this.#fatal === null) {
      this.#spawn();
    }
    this.#notify();
  }

  #spawn(): void {
    let worker: Worker;
    try {
      worker = new Worker(this.#script, { workerData: this.#options.boot() });
    } catch (error) {
      this.#failAll(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    let exited!: () => void;
    const pw: PoolWorker = {
      worker,
      seq: -1,
      starting: true,
      job: null,
      idleTimer: null,
      exiting: false,
      exited: new Promise<void>((resolve) => {
        exited = resolve;
      }),
    };
    this.#workers.add(pw);
    this.#startingCount++;
    if (this.#options.daemon) worker.unref();
    const deliver = (message: Tagged<ToMain> | Uint8Array) => {
      if (pw.job === null) return;
      if (message instanceof Uint8Array) {
        if (isFrameOf(message, FRAME_WRITE, pw.seq)) pw.job.receiveWrite(framePayload(message));
      } else if (message.r === pw.seq) pw.job.receive(message);
    };
    worker.on('message', (message: WorkerStatus | Tagged<ToMain> | Uint8Array | Batch) => {
      if (message instanceof Uint8Array || 'r' in message) {
        deliver(message);
        return;
      }
      if ('batch' in message) {
        for (const item of message.batch) deliver(item);
        return;
      }
      const status = message;
      if (!pw.starting) return;
      this.#started(pw);
      if (status.type === 'ready') this.#becomeIdle(pw);
      else {
        this.#failAll(reviveError(status.error));
        this.#terminate(pw);
      }
    });
    worker.on('error', (error: Error) => {
      // The thread is dead: take no more requests to it.
      this.#removeIdle(pw);
      const expected = pw.exiting;
      pw.exiting = true;
      if (pw.starting) {
        this.#started(pw);
        this.#failAll(error);
      } else if (pw.job !== null) pw.job.settle(error, true);
      else if (!expected) this.#options.onStrayError(error);
    });
    worker.on('exit', (code: number) => {
      this.#workers.delete(pw);
      this.#removeIdle(pw);
      if (pw.starting) {
        this.#started(pw);
        if (!pw.exiting) {
          this.#failAll(
            new WorkerExitedError(
              code,
              `worker thread exited (code ${code}) while loading the handler module`,
            ),
          );
        }
      }
      // An exit in the middle of a request (process.exit in the handler) ends
      // that request quietly, as SystemExit ends a Python handler thread.
      pw.job?.settle(null, true);
      exited();
      this.#dispatch();
      this.#notify();
    });
  }

  #started(pw: PoolWorker): void {
    pw.starting = false;
    this.#startingCount--;
    this.#notify();
  }

  #assign(pw: PoolWorker, job: Job): void {
    this.#clearIdleTimer(pw);
    pw.job = job;
    this.#running.add(job);
    if (!this.#options.daemon) pw.worker.ref();
    job.onSettled = (workerLost) => {
      this.#running.delete(job);
      pw.job = null;
      if (workerLost) this.#terminate(pw);
      else this.#becomeIdle(pw);
      // A replacement is started only if requests wait (also while closing).
      if (workerLost) this.#dispatch();
      this.#notify();
    };
    const r = this.#sequence++;
    pw.seq = r;
    const start: RequestStart =
      job.kind === 'stream'
        ? {
            type: 'request',
            r,
            kind: 'stream',
            clientAddress: job.clientAddress,
            socket: socketInfo(job.request as Socket),
          }
        : {
            type: 'request',
            r,
            kind: 'datagram',
            clientAddress: job.clientAddress,
            packet: Uint8Array.from((job.request as DatagramRequest).packet),
          };
    const limit = this.#options.timeLimit;
    if (limit !== null) job.limit(limit, () => new RequestTimeLimitError(limit));
    pw.worker.postMessage(start);
    job.attach(
      (message, transfer) => pw.worker.postMessage({ ...message, r }, transfer),
      (bytes) => pw.worker.postMessage(frame(FRAME_DATA, r, bytes)),
    );
  }

  #becomeIdle(pw: PoolWorker): void {
    if (pw.exiting) return;
    const next = this.#queue.shift();
    if (next !== undefined) {
      this.#assign(pw, next);
      this.#notify();
      return;
    }
    if (this.#closing) {
      this.#terminate(pw);
      return;
    }
    if (!this.#options.daemon) pw.worker.unref();
    this.#idle.push(pw);
    if (this.#liveWorkers() > this.#options.minThreads) {
      pw.idleTimer = setTimeout(() => {
        pw.idleTimer = null;
        if (this.#liveWorkers() > this.#options.minThreads && this.#removeIdle(pw)) {
          this.#terminate(pw);
        }
      }, this.#options.idleTimeout);
      pw.idleTimer.unref();
    }
  }

  /** Workers not being terminated. */
  #liveWorkers(): number {
    let live = 0;
    for (const pw of this.#workers) if (!pw.exiting) live++;
    return live;
  }

  #removeIdle(pw: PoolWorker): boolean {
    this.#clearIdleTimer(pw);
    const index = this.#idle.indexOf(pw);
    if (index < 0) return false;
    this.#idle.splice(index, 1);
    return true;
  }

  #clearIdleTimer(pw: PoolWorker): void {
    if (pw.idleTimer !== null) {
      clearTimeout(pw.idleTimer);
      pw.idleTimer = null;
    }
  }

  #terminate(pw: PoolWorker): void {
    if (pw.exiting) return;
    pw.exiting = true;
    this.#removeIdle(pw);
    void pw.worker.terminate();
  }

  #failAll(error: Error): void {
    this.#fatal ??= error;
    for (const job of this.#queue.splice(0)) job.settle(this.#fatal);
    this.#notify();
  }

  #notify(): void {
    for (const listener of this.#listeners.splice(0)) listener();
  }
}

function kindOf(request: unknown): Job['kind'] {
  if (typeof request === 'object' && request !== null) {
    if ('packet' in request && 'socket' in request) return 'datagram';
    if (
      typeof (request as Socket).write === 'function' &&
      typeof (request as Socket).pause === 'function'
    ) {
      return 'stream';
    }
  }
  throw new UnsupportedError(
    'ThreadingMixIn runs stream requests (a net.Socket) and datagram requests ({ packet, socket }) only',
  );
}
