import type { Socket } from 'node:net';
import { BaseRequestHandler } from './base-request-handler.js';
import { proxyHeaderOf } from './connection-setup.js';
import { TimeoutError } from './errors.js';
import type { ProxyHeader } from './proxy-protocol.js';
import { connectReader, disconnectReader, Reader } from './reader.js';
import type { Address } from './types.js';
import { SocketWriter } from './writer.js';

/**
 * A handler for stream servers (Python's `StreamRequestHandler`): reads from
 * {@link rfile} and writes to {@link wfile}.
 *
 * Settings, as instance fields a subclass may override:
 * - {@link rbufsize}: bytes `rfile` reads ahead before pausing the socket.
 * - {@link wbufsize}: unsent bytes `wfile.write` allows before it waits.
 * - {@link timeout}: idle limit in ms; reads and writes then reject with `TimeoutError`.
 * - {@link disableNagleAlgorithm}: sets `TCP_NODELAY`.
 *
 * Everything written before `handle` returns reaches the peer before the
 * connection is closed.
 */
export class StreamRequestHandler<A extends Address = Address> extends BaseRequestHandler<
  Socket,
  A
> {
  /**
   * How many bytes `rfile` buffers ahead of the reader before it stops reading
   * from the socket (default 64 KiB). Python's `rbufsize` is a buffer size;
   * here it is that buffer's bound, and the socket is paused beyond it.
   */
  rbufsize = 64 * 1024;
  /**
   * How many unsent bytes `wfile.write` may leave in user space before its
   * promise waits for the peer to read (default 0: each write resolves once
   * the kernel has taken it, Python's unbuffered default).
   */
  wbufsize = 0;
  /** Idle limit in milliseconds for the connection, or `null` for none (default). */
  timeout: number | null = null;
  /** Whether to disable Nagle's algorithm (`TCP_NODELAY`; default false). Ignored on Unix sockets. */
  disableNagleAlgorithm = false;

  /** The connection (Python's `self.connection`). */
  connection!: Socket;
  /** Reads the request's bytes. */
  rfile!: Reader;
  /** Writes the response's bytes. */
  wfile!: SocketWriter;

  /**
   * The PROXY header the connection arrived with (its TLVs included), or
   * `undefined` when the server does not use the PROXY protocol.
   * `clientAddress` is already the client it names.
   */
  get proxyHeader(): ProxyHeader | undefined {
    return proxyHeaderOf(this.request);
  }

  /** Prepares `connection`, `rfile`, `wfile`, the timeout and Nagle. May be extended, do not override. */
  override setup(): void {
    const socket = this.request;
    this.connection = socket;
    if (this.timeout !== null) {
      const limit = this.timeout;
      socket.setTimeout(limit, () => socket.destroy(new TimeoutError(limit)));
    }
    if (this.disableNagleAlgorithm) socket.setNoDelay(true);
    this.rfile = new Reader({ flow: socket, highWaterMark: this.rbufsize });
    connectReader(this.rfile, socket);
    this.wfile = new SocketWriter(socket, { highWaterMark: this.wbufsize });
  }

  /** Flushes `wfile` and detaches `rfile`. May be extended, do not override. */
  override async finish(): Promise<void> {
    try {
      await this.wfile?.flush();
    } catch {
      // The peer is gone: nothing more can be delivered (Python ignores this too).
    } finally {
      if (this.rfile !== undefined) disconnectReader(this.rfile, this.request);
      if (this.timeout !== null) this.request.setTimeout(0);
    }
  }
}
