/**
 * `Lock`: a mutual-exclusion lock on `SharedArrayBuffer` and `Atomics`,
 * shared by the main thread and every worker thread.
 *
 * @module
 */
import { InvalidArgumentError, SocketServerError } from '../errors.js';

const UNLOCKED = 0;
const LOCKED = 1;
/** Locked, and at least one thread may be waiting: `release` must wake one. */
const CONTENDED = 2;

/**
 * A lock (Python's `threading.Lock`) that works across worker threads: its
 * state is one `Int32` in a `SharedArrayBuffer`, changed with `Atomics`
 * compare-and-exchange, and waiters sleep in `Atomics.wait` (or
 * `Atomics.waitAsync`) until `release` wakes them. It is not re-entrant and
 * has no owner: a thread that acquires it twice without releasing waits for
 * ever (or until its timeout), and any thread may release it, as with
 * Python's `Lock`.
 *
 * In a worker thread use the blocking forms ({@link acquire},
 * {@link withLock}); on the main thread use the async ones
 * ({@link acquireAsync}, {@link withLockAsync}), which never block the event
 * loop. A `Lock` put on the server (directly, or inside a
 * {@link SharedState}) reaches handlers in workers as the same lock.
 *
 * ```ts
 * // in a handler running in a worker:
 * this.server.state.lock.withLock(() => { counter[0] = counter[0]! + 1; });
 * ```
 */
export class Lock {
  /** The shared memory holding the lock's state. */
  readonly buffer: SharedArrayBuffer;
  /** Where in {@link buffer} the state lives (a multiple of 4). */
  readonly byteOffset: number;
  #cell: Int32Array;

  /**
   * Creates a lock with its own 4-byte `SharedArrayBuffer`, or a view of an
   * existing lock's state (what a worker does to rebuild a lock it was sent).
   * @param buffer - existing shared memory to use.
   * @param byteOffset - where the state is in `buffer` (multiple of 4, default 0).
   */
  constructor(buffer?: SharedArrayBuffer, byteOffset = 0) {
    if (buffer !== undefined && !(buffer instanceof SharedArrayBuffer)) {
      throw new InvalidArgumentError('Lock needs a SharedArrayBuffer');
    }
    if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset % 4 !== 0) {
      throw new InvalidArgumentError(`Lock byteOffset must be a multiple of 4, got ${byteOffset}`);
    }
    this.buffer = buffer ?? new SharedArrayBuffer(4);
    this.byteOffset = byteOffset;
    this.#cell = new Int32Array(this.buffer, byteOffset, 1);
  }

  /** True while some thread holds the lock. */
  get locked(): boolean {
    return Atomics.load(this.#cell, 0) !== UNLOCKED;
  }

  /** Takes the lock if it is free; never waits. Returns whether it was taken. */
  tryAcquire(): boolean {
    return Atomics.compareExchange(this.#cell, 0, UNLOCKED, LOCKED) === UNLOCKED;
  }

  /**
   * Takes the lock, blocking this thread until it is free (Python's
   * `acquire()`). For worker threads; on the main thread it blocks the event
   * loop, so prefer {@link acquireAsync} there.
   * @param timeout - the longest wait in ms (default: for ever).
   * @returns true when taken, false when `timeout` elapsed first.
   */
  acquire(timeout = Number.POSITIVE_INFINITY): boolean {
    let state = Atomics.compareExchange(this.#cell, 0, UNLOCKED, LOCKED);
    if (state === UNLOCKED) return true;
    const deadline = timeout === Number.POSITIVE_INFINITY ? null : Date.now() + timeout;
    for (;;) {
      if (
        state === CONTENDED ||
        Atomics.compareExchange(this.#cell, 0, LOCKED, CONTENDED) !== UNLOCKED
      ) {
        const wait = deadline === null ? undefined : Math.max(0, deadline - Date.now());
        Atomics.wait(this.#cell, 0, CONTENDED, wait);
      }
      state = Atomics.compareExchange(this.#cell, 0, UNLOCKED, CONTENDED);
      if (state === UNLOCKED) return true;
      if (deadline !== null && Date.now() >= deadline) return false;
    }
  }

  /**
   * Takes the lock without blocking the thread: waits with
   * `Atomics.waitAsync`. For the main thread (works in workers too).
   * @param timeout - the longest wait in ms (default: for ever).
   * @returns true when taken, false when `timeout` elapsed first.
   */
  async acquireAsync(timeout = Number.POSITIVE_INFINITY): Promise<boolean> {
    let state = Atomics.compareExchange(this.#cell, 0, UNLOCKED, LOCKED);
    if (state === UNLOCKED) return true;
    const deadline = timeout === Number.POSITIVE_INFINITY ? null : Date.now() + timeout;
    for (;;) {
      if (
        state === CONTENDED ||
        Atomics.compareExchange(this.#cell, 0, LOCKED, CONTENDED) !== UNLOCKED
      ) {
        const wait = deadline === null ? undefined : Math.max(0, deadline - Date.now());
        const result = Atomics.waitAsync(this.#cell, 0, CONTENDED, wait);
        if (result.async) await result.value;
      }
      state = Atomics.compareExchange(this.#cell, 0, UNLOCKED, CONTENDED);
      if (state === UNLOCKED) return true;
      if (deadline !== null && Date.now() >= deadline) return false;
    }
  }

  /**
   * Releases the lock and wakes one waiter. Throws
   * `ERR_SOCKETSERVER_LOCK_NOT_HELD` when the lock is not held (Python's
   * `RuntimeError: release unlocked lock`).
   */
  release(): void {
    const previous = Atomics.exchange(this.#cell, 0, UNLOCKED);
    if (previous === UNLOCKED) {
      throw new SocketServerError('ERR_SOCKETSERVER_LOCK_NOT_HELD', 'release of an unlocked Lock');
    }
    if (previous === CONTENDED) Atomics.notify(this.#cell, 0, 1);
  }

  /** Runs `fn` holding the lock (blocking acquire), releasing it afterwards even if `fn` throws. */
  withLock<T>(fn: () => T): T {
    this.acquire();
    try {
      return fn();
    } finally {
      this.release();
    }
  }

  /** Runs `fn` holding the lock (async acquire), releasing it when `fn`'s promise settles. */
  async withLockAsync<T>(fn: () => T | Promise<T>): Promise<T> {
    await this.acquireAsync();
    try {
      return await fn();
    } finally {
      this.release();
    }
  }
}
