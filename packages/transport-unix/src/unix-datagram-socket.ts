/**
 * `UnixDatagramSocket`: an `AF_UNIX`/`SOCK_DGRAM` socket, the one kind of
 * socket Node.js lacks, for clients of a `UnixDatagramServer` and for
 * protocols such as systemd's `sd_notify` and syslog's `/dev/log`.
 *
 * @module
 */
import { EventEmitter } from 'node:events';
import { ClosedError, InvalidArgumentError } from '@socketserver/core';
import {
  type NativeHandle,
  type NativeUnixDgram,
  nativeUnixDgram,
  systemError,
} from './native-addon.js';
import { validateUnixAddress } from './unix-address.js';

/** Options of {@link UnixDatagramSocket}. */
export interface UnixDatagramSocketOptions {
  /**
   * The longest datagram received whole, in bytes (default 65536); longer
   * ones are truncated, as `recvfrom` with a buffer of this size does.
   */
  maxPacketSize?: number;
  /**
   * An inherited socket's file descriptor to use instead of a new socket
   * (systemd socket activation); it must be an `AF_UNIX` `SOCK_DGRAM` socket.
   */
  fd?: number;
}

/** Events of {@link UnixDatagramSocket}. */
export interface UnixDatagramSocketEvents {
  /** A datagram, and its sender's path (`''` for an unnamed sender, `'\0name'` for an abstract one). */
  message: [data: Buffer, sender: string];
  /** A receive error; the socket stops receiving. */
  error: [error: NodeJS.ErrnoException];
}

/** EventEmitter's own event, which the socket listens to. */
interface EmitterEvents {
  newListener: [event: string | symbol, listener: (...args: any[]) => void];
}

/**
 * A Unix datagram socket, like `node:dgram` for `AF_UNIX`. All calls are
 * synchronous and non-blocking: `bind`, `connect` and `send` throw a
 * Node-style system error (`code` `'ENOENT'`, `'EAGAIN'`, ...) at once.
 * Receiving starts when a `'message'` listener is added and the socket is
 * bound (or connected); `close()` releases it.
 *
 * ```ts
 * const client = new UnixDatagramSocket();
 * client.bind('/tmp/client.sock');            // so that the server can reply
 * client.on('message', (data, sender) => console.log(String(data), 'from', sender));
 * client.send('ping', '/run/echo.dgram');
 * ```
 *
 * Paths follow the kernel's limits: 107 bytes for a file, 108 bytes for an
 * abstract name (`'\0name'`, Linux). Sending never waits: a receiver whose
 * queue is full fails the send with `EAGAIN`.
 */
export class UnixDatagramSocket extends EventEmitter<UnixDatagramSocketEvents & EmitterEvents> {
  #native: NativeUnixDgram;
  #handle: NativeHandle | null;
  #receiving = false;
  /** Held here: the addon holds it strongly only while receiving. */
  #onMessage = (errno: number, data: Buffer | null, sender: string | null): void => {
    if (errno === 0) this.emit('message', data as Buffer, sender as string);
    else this.#fail(errno);
  };

  /**
   * Opens a new socket (or adopts `options.fd`). Throws
   * `NativeAddonMissingError` when the addon is not available here.
   */
  constructor(options: UnixDatagramSocketOptions = {}) {
    super();
    const size = options.maxPacketSize ?? 65_536;
    if (!Number.isInteger(size) || size < 1) {
      throw new InvalidArgumentError(
        `maxPacketSize must be a positive integer, not ${String(size)}`,
      );
    }
    this.#native = nativeUnixDgram();
    const opened =
      options.fd === undefined
        ? this.#native.open(this.#onMessage, size)
        : this.#native.adopt(options.fd, this.#onMessage, size);
    if (typeof opened === 'number') throw systemError(opened, 'socket');
    this.#handle = opened;
    this.on('newListener', (event) => {
      if (event === 'message') queueMicrotask(() => this.#startReceiving());
    });
  }

  /** Binds the socket to `path` (a file, or `'\0name'`); throws the system error. */
  bind(path: string): void {
    this.#call('bind', path, this.#native.bind(this.#open(), validateUnixAddress(path)));
    this.#startReceiving();
  }

  /** Sets the default destination, and receives only from it; throws the system error. */
  connect(path: string): void {
    this.#call('connect', path, this.#native.connect(this.#open(), validateUnixAddress(path)));
    this.#startReceiving();
  }

  /**
   * Sends one datagram to `path` (or to the connected peer when omitted).
   * Returns the bytes sent; throws the system error (`EAGAIN` when the
   * receiver's queue is full, `ECONNREFUSED`/`ENOENT` when nobody is there).
   */
  send(data: string | Uint8Array, path?: string): number {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    const sent = this.#native.send(this.#open(), bytes, path ?? null);
    return this.#call(path === undefined ? 'send' : 'sendto', path, sent);
  }

  /** The bound path (`''` when unbound), or throws the system error. */
  address(): string {
    const address = this.#native.localAddress(this.#open());
    if (typeof address === 'number') throw systemError(address, 'getsockname');
    return address;
  }

  /** The file descriptor, or -1 once closed. */
  get fd(): number {
    return this.#handle === null ? -1 : this.#native.fd(this.#handle);
  }

  /** True once `close()` has been called. */
  get closed(): boolean {
    return this.#handle === null;
  }

  /** Lets the process exit while the socket is open (as `dgram.Socket.unref`). */
  unref(): this {
    if (this.#handle !== null) this.#native.ref(this.#handle, false);
    return this;
  }

  /** Undoes {@link unref}. */
  ref(): this {
    if (this.#handle !== null) this.#native.ref(this.#handle, true);
    return this;
  }

  /** Closes the socket (idempotent). A filesystem path it was bound to stays: remove it yourself. */
  close(): void {
    const handle = this.#handle;
    if (handle === null) return;
    this.#handle = null;
    const result = this.#native.close(handle);
    if (result < 0) throw systemError(result, 'close');
  }

  /** Calls `close()` (for `using`). */
  [Symbol.dispose](): void {
    this.close();
  }

  #open(): NativeHandle {
    if (this.#handle === null) throw new ClosedError('the Unix datagram socket');
    return this.#handle;
  }

  #call(syscall: string, path: string | undefined, result: number): number {
    if (result < 0) throw systemError(result, syscall, path);
    return result;
  }

  /** Receiving costs nothing until someone listens, and needs an address to receive on. */
  #startReceiving(): void {
    if (this.#receiving || this.#handle === null || this.listenerCount('message') === 0) return;
    this.#receiving = true;
    const result = this.#native.start(this.#handle);
    if (result < 0) this.#fail(result);
  }

  #fail(errno: number): void {
    this.#receiving = false;
    // As node:dgram does: with no 'error' listener, this throws (an uncaught exception).
    this.emit('error', systemError(errno, 'recvfrom'));
  }
}
