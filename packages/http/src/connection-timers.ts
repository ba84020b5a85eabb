/**
 * The timers of one HTTP connection, as one small state machine. The
 * connection is always in one phase, and each phase has its own limit:
 *
 * - `idle`: between requests; `keepAliveTimeout` from the end of a response.
 * - `head`: a request head is arriving; `headTimeout` from its first byte
 *   (from the connection for the first request): a client trickling bytes is
 *   cut off too.
 * - `body`: the declared request body is arriving; `bodyTimeout`, plus one
 *   second for every `bodyMinRate` bytes received (Apache's `mod_reqtimeout`
 *   `MinRate`), so a body sent one byte at a time is cut off. The clock does
 *   not run while the reader has paused the socket (a handler slow to read is
 *   not the client's fault).
 * - `busy`: the handler works; no read-side limit.
 *
 * Independently of the phase, a response that makes no progress (its bytes
 * wait and none reaches the kernel) for `sendTimeout` is cut off: a client
 * that stops reading.
 *
 * @module
 */
import type { Duplex } from 'node:stream';

/** The phases of a connection; see the module comment. */
export type ConnectionPhase = 'idle' | 'head' | 'body' | 'busy';

/** What ran out: a phase's limit, or `send` (no write progress). */
export type Expiry = 'idle' | 'head' | 'body' | 'send';

/** The limits, in ms and bytes per second. */
export interface TimerLimits {
  keepAliveTimeout: number;
  headTimeout: number;
  bodyTimeout: number;
  bodyMinRate: number;
  sendTimeout: number;
}

/** The socket surface the timers look at (a `net.Socket`, or a worker thread's stand-in). */
export type TimedSocket = Pick<Duplex, 'writableLength' | 'isPaused'> & {
  bytesWritten?: number;
};

/**
 * How often, within `sendTimeout`, waiting bytes are looked at: a stall is
 * seen at most a tenth of `sendTimeout` late (one timer every 3 s per
 * connection whose bytes wait, with the default 30 s).
 */
const SEND_CHECKS_PER_TIMEOUT = 10;

/**
 * The state machine. The owner moves it between phases ({@link idle},
 * {@link head}, {@link body}, {@link busy}), reports bytes received
 * ({@link received}) and writes made ({@link wrote}); `onExpire` is called
 * once a limit runs out. Each timer is created once and re-armed; a timer
 * that fires outside its phase does nothing.
 */
export class ConnectionTimers {
  /** The current phase. */
  phase: ConnectionPhase = 'busy';
  readonly #limits: TimerLimits;
  readonly #socket: TimedSocket;
  readonly #onExpire: (what: Expiry) => void;
  #idleTimer: NodeJS.Timeout | null = null;
  #headTimer: NodeJS.Timeout | null = null;
  #bodyTimer: NodeJS.Timeout | null = null;
  #bodyStart = 0;
  #bodyReceived = 0;
  #bodyPending = 0;
  #sendTimer: NodeJS.Timeout | null = null;
  #sendProgress = -1;
  #sendQueue = -1;
  #sendLastMove = 0;
  #stopped = false;

  /**
   * @param limits - the limits (read when a phase starts).
   * @param socket - the connection, looked at for write progress and pauses.
   * @param onExpire - called when a limit runs out.
   */
  constructor(limits: TimerLimits, socket: TimedSocket, onExpire: (what: Expiry) => void) {
    this.#limits = limits;
    this.#socket = socket;
    this.#onExpire = onExpire;
  }

  /** Between requests: waits `keepAliveTimeout` for the next one. */
  idle(): void {
    this.phase = 'idle';
    this.#idleTimer = arm(this.#idleTimer, this.#limits.keepAliveTimeout, this.#idleExpired);
  }

  /** A request head begins: it must be complete within `headTimeout`. */
  head(): void {
    this.phase = 'head';
    this.#headTimer = arm(this.#headTimer, this.#limits.headTimeout, this.#headExpired);
  }

  /**
   * The handler runs while `pending` bytes of declared body have yet to
   * arrive: the body phase, until they have (at once `busy` when none).
   */
  body(pending: number): void {
    if (pending <= 0) {
      this.busy();
      return;
    }
    this.phase = 'body';
    this.#bodyPending = pending;
    this.#bodyReceived = 0;
    this.#bodyStart = Date.now();
    this.#armBody(this.#limits.bodyTimeout);
  }

  /** The handler runs; no read-side limit. */
  busy(): void {
    this.phase = 'busy';
  }

  /** Bytes arrived: a waiting connection starts its next head; a body counts them. */
  received(bytes: number): void {
    if (this.phase === 'idle') {
      this.head();
    } else if (this.phase === 'body') {
      this.#bodyReceived += bytes;
      this.#bodyPending -= bytes;
      if (this.#bodyPending <= 0) this.busy();
    }
  }

  /** A response write was made: if bytes wait to be sent, watch that they move. */
  wrote(): void {
    if (this.#sendTimer !== null || this.#stopped || this.#socket.writableLength === 0) return;
    this.#sendLastMove = Date.now();
    this.#sendProgress = sentBytes(this.#socket);
    this.#sendQueue = queuedInKernelWrites(this.#socket);
    this.#sendTimer = setTimeout(this.#checkSend, this.#sendCheckInterval());
  }

  /** Stops every timer (the connection is done). */
  stop(): void {
    this.#stopped = true;
    this.phase = 'busy';
    for (const timer of [this.#idleTimer, this.#headTimer, this.#bodyTimer, this.#sendTimer]) {
      if (timer !== null) clearTimeout(timer);
    }
    this.#idleTimer = this.#headTimer = this.#bodyTimer = this.#sendTimer = null;
  }

  readonly #idleExpired = (): void => {
    if (this.phase === 'idle') this.#onExpire('idle');
  };

  readonly #headExpired = (): void => {
    if (this.phase === 'head') this.#onExpire('head');
  };

  /** The body's allowance: `bodyTimeout` plus 1 s per `bodyMinRate` bytes received. */
  readonly #bodyExpired = (): void => {
    this.#bodyTimer = null;
    if (this.phase !== 'body' || this.#stopped) return;
    const now = Date.now();
    if (this.#socket.isPaused()) {
      // The reader holds enough unread bytes: the client is waiting for the handler.
      this.#bodyStart = now;
      this.#bodyReceived = 0;
      this.#armBody(this.#limits.bodyTimeout);
      return;
    }
    const { bodyTimeout, bodyMinRate } = this.#limits;
    const allowed = bodyTimeout + (bodyMinRate > 0 ? (this.#bodyReceived * 1000) / bodyMinRate : 0);
    const left = this.#bodyStart + allowed - now;
    if (left > 0) this.#armBody(left);
    else this.#onExpire('body');
  };

  #armBody(ms: number): void {
    if (this.#bodyTimer !== null) clearTimeout(this.#bodyTimer);
    this.#bodyTimer = setTimeout(this.#bodyExpired, ms);
  }

  #sendCheckInterval(): number {
    return Math.max(1, Math.ceil(this.#limits.sendTimeout / SEND_CHECKS_PER_TIMEOUT));
  }

  /** Looks whether the waiting bytes moved since the last look; cuts off after `sendTimeout` without. */
  readonly #checkSend = (): void => {
    this.#sendTimer = null;
    const socket = this.#socket;
    if (this.#stopped || socket.writableLength === 0) return;
    const now = Date.now();
    const progress = sentBytes(socket);
    const queue = queuedInKernelWrites(socket);
    if (progress > this.#sendProgress || queue < this.#sendQueue) this.#sendLastMove = now;
    this.#sendProgress = progress;
    this.#sendQueue = queue;
    const left = this.#sendLastMove + this.#limits.sendTimeout - now;
    if (left <= 0) {
      this.#onExpire('send');
      return;
    }
    this.#sendTimer = setTimeout(this.#checkSend, Math.min(left, this.#sendCheckInterval()));
  };
}

/** Re-arms a timer made once (`refresh`), or makes it; 0 or less disables the limit. */
function arm(timer: NodeJS.Timeout | null, ms: number, fire: () => void): NodeJS.Timeout | null {
  if (!(ms > 0)) {
    if (timer !== null) clearTimeout(timer);
    return null;
  }
  if (timer === null) return setTimeout(fire, ms);
  return timer.refresh();
}

/**
 * Bytes whose writes have completed: written (`bytesWritten` counts those
 * still buffered) less those not yet completed (`writableLength`).
 */
function sentBytes(socket: TimedSocket): number {
  return (socket.bytesWritten ?? 0) - socket.writableLength;
}

/**
 * Bytes of the write in progress that libuv has not handed to the kernel
 * yet: it shrinks as a large write goes out in parts, before the write
 * completes. Read from the socket's internal handle, as Node's own
 * `socket.setTimeout` does to tell a slow reader from a stalled one; -1
 * where there is none (a worker thread's stand-in socket).
 */
function queuedInKernelWrites(socket: TimedSocket): number {
  const handle = (socket as { _handle?: { writeQueueSize?: unknown } | null })._handle;
  return typeof handle?.writeQueueSize === 'number' ? handle.writeQueueSize : -1;
}
