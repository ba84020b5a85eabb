/**
 * `BridgedSocket`: what a stream handler in a worker thread gets as
 * `request`. A `Duplex` that looks like the `net.Socket` the main thread
 * holds, carrying its bytes over the worker's channel with credit-based
 * backpressure in both directions.
 *
 * @module
 */
import { Duplex } from 'node:stream';
import { reviveError } from './errors.js';
import {
  ACK_EVERY,
  CREDIT,
  FRAME_BELOW,
  type SocketInfo,
  type ToMain,
  type ToWorker,
} from './protocol.js';

const EMPTY = new Uint8Array(0);

/**
 * The connection as seen from a worker thread. It has the `net.Socket`
 * surface that handlers use: `remoteAddress`, `remotePort`, `remoteFamily`,
 * `localAddress`, `localPort`, `address()`, `setTimeout`, `setNoDelay`,
 * `setKeepAlive`, `end`, `destroy`, `bytesRead`, `bytesWritten`, `ref`,
 * `unref`; reads and writes are those of a `Duplex`. The real socket stays
 * on the main thread, which moves the bytes.
 *
 * Backpressure: the main thread sends at most {@link CREDIT} bytes the
 * worker has not consumed (it pauses the socket past that), and the worker
 * has at most {@link CREDIT} bytes written that the main thread has not
 * handed to the socket (writes wait past that, so `wfile.write` waits).
 */
export class BridgedSocket extends Duplex {
  /** The peer's IP address (undefined for Unix sockets). */
  readonly remoteAddress: string | undefined;
  /** The peer's port. */
  readonly remotePort: number | undefined;
  /** `IPv4` or `IPv6`. */
  readonly remoteFamily: string | undefined;
  /** The local IP address. */
  readonly localAddress: string | undefined;
  /** The local port. */
  readonly localPort: number | undefined;
  /** The local address family. */
  readonly localFamily: string | undefined;
  /** Always false: the connection is established. */
  readonly connecting = false;
  /** Always false: the connection is established. */
  readonly pending = false;
  /** Bytes received so far. */
  bytesRead = 0;
  /** Bytes written so far. */
  bytesWritten = 0;
  /** The idle limit set by `setTimeout` (ms), or undefined. */
  timeout: number | undefined = undefined;

  #send: (message: ToMain, transfer?: ArrayBuffer[]) => void;
  #sendBytes: (bytes: Uint8Array) => void;
  #unackedRead = 0;
  #inflight = 0;
  #blocked: (() => void) | null = null;
  #timer: NodeJS.Timeout | null = null;
  #remoteGone = false;
  #detached = false;

  /**
   * @param send - posts a message about this request to the main thread.
   * @param sendBytes - posts a copy of written bytes (below `FRAME_BELOW`) to the main thread as a frame.
   * @param info - the main thread socket's address fields.
   */
  constructor(
    send: (message: ToMain, transfer?: ArrayBuffer[]) => void,
    sendBytes: (bytes: Uint8Array) => void,
    info: SocketInfo,
  ) {
    super({ allowHalfOpen: true, readableHighWaterMark: CREDIT });
    this.#send = send;
    this.#sendBytes = sendBytes;
    this.remoteAddress = info.remoteAddress;
    this.remotePort = info.remotePort;
    this.remoteFamily = info.remoteFamily;
    this.localAddress = info.localAddress;
    this.localPort = info.localPort;
    this.localFamily = info.localFamily;
  }

  /** Delivers one message from the main thread. Internal (called by the worker's request loop). */
  receive(message: ToWorker): void {
    if (this.#detached) return;
    switch (message.t) {
      case 'data':
        this.receiveData(
          Buffer.from(message.chunk.buffer, message.chunk.byteOffset, message.chunk.byteLength),
        );
        break;
      case 'end':
        this.push(null);
        break;
      case 'ack':
        this.#inflight -= message.n;
        if (this.#inflight < CREDIT && this.#blocked !== null) {
          const go = this.#blocked;
          this.#blocked = null;
          go();
        }
        break;
      case 'error':
        this.#remoteGone = true;
        this.destroy(reviveError(message.error));
        break;
      case 'close':
        this.#remoteGone = true;
        this.destroy();
        break;
      default:
        break;
    }
  }

  /** Delivers bytes received from the peer. Internal (called by the worker's request loop). */
  receiveData(chunk: Buffer): void {
    if (this.#detached) return;
    this.bytesRead += chunk.length;
    this.#unackedRead += chunk.length;
    this.#touch();
    if (this.push(chunk)) this.#ackRead();
  }

  /**
   * Resolves once every byte written so far has been handed to the main
   * thread (or the socket failed). Internal: called after the handler
   * returns, before the main thread is told the request is done.
   */
  flushWrites(): Promise<void> {
    if (this.destroyed || this.writableEnded) {
      return this.writableFinished || this.destroyed
        ? Promise.resolve()
        : new Promise((resolve) => this.once('finish', resolve).once('close', resolve));
    }
    return new Promise((resolve) => this.write(EMPTY, () => resolve()));
  }

  /** Stops talking to the main thread and releases timers, without telling it anything. Internal. */
  detach(): void {
    this.#detached = true;
    this.#remoteGone = true;
    this.#clearTimer();
    if (!this.destroyed) this.destroy();
  }

  override _read(): void {
    this.#ackRead();
  }

  override _write(
    chunk: Buffer,
    _encoding: BufferEncoding,
    callback: (error?: Error | null) => void,
  ): void {
    if (chunk.length === 0) {
      callback();
      return;
    }
    this.#touch();
    this.bytesWritten += chunk.length;
    this.#inflight += chunk.length;
    this.#post({ t: 'write', chunk });
    if (this.#inflight < CREDIT) callback();
    else this.#blocked = () => callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#post({ t: 'fin' });
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#clearTimer();
    if (!this.#remoteGone) this.#post({ t: 'destroy' });
    this.#remoteGone = true;
    const blocked = this.#blocked;
    this.#blocked = null;
    callback(error);
    blocked?.();
  }

  /**
   * Emits `'timeout'` after `ms` of inactivity (no bytes in or out), as
   * `net.Socket.setTimeout` does; 0 disables it. The optional callback is
   * added as a one-time `'timeout'` listener (removed when `ms` is 0).
   */
  setTimeout(ms: number, callback?: () => void): this {
    this.timeout = ms > 0 ? ms : undefined;
    this.#clearTimer();
    if (callback !== undefined) {
      if (ms > 0) this.once('timeout', callback);
      else this.off('timeout', callback);
    }
    this.#touch();
    return this;
  }

  /** Sets `TCP_NODELAY` on the main thread's socket. */
  setNoDelay(noDelay = true): this {
    this.#post({ t: 'noDelay', value: noDelay });
    return this;
  }

  /** Sets `SO_KEEPALIVE` on the main thread's socket. */
  setKeepAlive(enable = false, initialDelay = 0): this {
    this.#post({ t: 'keepAlive', enable, delay: initialDelay });
    return this;
  }

  /** The local address, as `net.Socket.address()` returns it. */
  address(): {
    address?: string | undefined;
    port?: number | undefined;
    family?: string | undefined;
  } {
    return { address: this.localAddress, port: this.localPort, family: this.localFamily };
  }

  /** No effect: the worker's lifetime does not depend on the socket. */
  ref(): this {
    return this;
  }

  /** No effect: the worker's lifetime does not depend on the socket. */
  unref(): this {
    return this;
  }

  /** `'open'`, `'readOnly'`, `'writeOnly'` or `'closed'`, as for `net.Socket`. */
  get readyState(): string {
    if (this.destroyed) return 'closed';
    if (this.readable && this.writable) return 'open';
    if (this.readable) return 'readOnly';
    if (this.writable) return 'writeOnly';
    return 'closed';
  }

  #ackRead(): void {
    if (this.#unackedRead >= ACK_EVERY) {
      this.#post({ t: 'ack', n: this.#unackedRead });
      this.#unackedRead = 0;
    }
  }

  #post(message: ToMain): void {
    if (this.#remoteGone && message.t !== 'destroy') return;
    if (message.t === 'write') {
      // Copy: the caller may reuse its buffer after the write callback.
      // Small chunks are copied into a frame; large ones into their own
      // buffer, which is transferred.
      if (message.chunk.byteLength < FRAME_BELOW) {
        this.#sendBytes(message.chunk);
        return;
      }
      const copy = new Uint8Array(message.chunk.byteLength);
      copy.set(message.chunk);
      this.#send({ t: 'write', chunk: copy }, [copy.buffer]);
      return;
    }
    this.#send(message);
  }

  #touch(): void {
    if (this.timeout === undefined || this.#detached) return;
    this.#clearTimer();
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.emit('timeout');
    }, this.timeout);
  }

  #clearTimer(): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
  }
}
