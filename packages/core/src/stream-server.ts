/**
 * `StreamServer`: connection-per-request servers (TCP, Unix stream).
 *
 * @module
 */
import { createServer, type ListenOptions, type Server, type Socket } from 'node:net';
import { BaseServer } from './base-server.js';
import { closeConnection } from './connection.js';
import { ConnectionBook, type ConnectionIO, kHostedConnection } from './connection-book.js';
import {
  type ConnectionSetup,
  type ConnectionSetupSettings,
  kConnectionSetup,
  kConnectionSetupChanged,
  kPreparedInHosts,
  type PreparationListener,
  type PreparedConnection,
  ProxyPolicy,
  type ProxyProtocolSettings,
  startPreparation,
} from './connection-setup.js';
import { handleFd } from './node-internals.js';
import { kCounters, type ServerStats } from './observe.js';
import { DEFAULT_PROXY_HEADER_TIMEOUT } from './proxy-header-reader.js';
import type { TLSLayer } from './tls-layer.js';
import { LOOPBACK_SOURCES } from './trusted-sources.js';
import type { Address } from './types.js';

/**
 * Base class for stream servers (the socket-type half of Python's
 * `TCPServer`). A transport subclass only says how to listen and how to
 * name addresses: {@link listenOptions}, {@link boundAddress},
 * {@link clientAddressOf}.
 *
 * Accepted connections are kept paused in a queue of `requestQueueSize`
 * until the serving loop takes them, so a plain
 * server really handles one connection at a time; connections beyond the
 * queue are closed at once and reported to `handleError`.
 *
 * After a request, `shutdownRequest` ends the connection (Python's
 * `shutdown(SHUT_WR)`): bytes the handler wrote are delivered first, unread
 * input is discarded, and a connection idle for 5 s after that is destroyed.
 *
 * Deployment settings (read when the server binds):
 * - `proxyProtocol` (default false): every connection must start with a
 *   PROXY header (version 1 or 2) from a source in `proxyProtocolFrom`
 *   (default loopback); `clientAddress` is then the client the header
 *   names. See {@link prepareConnection}.
 * - `listenFd` (default null): serve a listening socket inherited from the
 *   parent process (systemd socket activation) instead of binding one.
 */
export abstract class StreamServer<A extends Address = Address> extends BaseServer<Socket, A> {
  /** The listening socket, once bound. */
  socket: Server | null = null;
  /** `SO_REUSEADDR`. See the transport's README for what the platform allows. */
  allowReuseAddress = false;
  /** `SO_REUSEPORT`. See the transport's README for what the Node version allows. */
  allowReusePort = false;
  /**
   * Expect a PROXY protocol header (version 1 or 2) first on every connection
   * (default false). The header is read before the connection is queued, so
   * `verifyRequest`, `handleError` and the handler all see the client it
   * names as `clientAddress`; the header itself is `proxyHeaderOf(request)`.
   * A connection from an untrusted source, or with a malformed, truncated or
   * late header, is closed and reported to `handleError`.
   */
  proxyProtocol = false;
  /** Addresses and CIDR blocks trusted to send PROXY headers (default loopback: `127.0.0.0/8`, `::1/128`). */
  proxyProtocolFrom: readonly string[] = LOOPBACK_SOURCES;
  /** How long a peer has to send its whole PROXY header, in ms (default 5000). */
  proxyHeaderTimeout = DEFAULT_PROXY_HEADER_TIMEOUT;
  /**
   * A listening socket's file descriptor to serve instead of binding
   * `serverAddress` (default null), for example one inherited through
   * systemd socket activation (see `listenFds`). `serverAddress` becomes the
   * socket's own address.
   */
  listenFd: number | null = null;

  /** Open connections and the bytes of closed ones. */
  readonly #book = new ConnectionBook(this, this[kCounters]);
  #proxy: ProxyPolicy | null = null;
  /** Connections still reading their PROXY header or in their TLS handshake: not requests yet. */
  #preparing = new Set<Socket>();

  /** How to listen: options for `net.Server.listen` (the address part). For transports. */
  protected abstract listenOptions(): ListenOptions;

  /** The bound address of a listening server. For transports. */
  protected abstract boundAddress(server: Server): A;

  /** A connected peer's address. For transports. */
  protected abstract clientAddressOf(socket: Socket): A;

  /** The TLS layer connections go through before their handler, or null (default: none). For transports. */
  protected tlsLayer(): TLSLayer | null {
    return null;
  }

  /**
   * Tells hosts (worker threads, child processes) that prepare connections
   * that the setup changed (a new certificate). For transports.
   */
  protected connectionSetupChanged(): void {
    (this as { [kConnectionSetupChanged]?: () => void })[kConnectionSetupChanged]?.();
  }

  /** The connection setup as data, for hosts that prepare connections: null when there is none. */
  [kConnectionSetup](): ConnectionSetupSettings | null {
    const proxy: ProxyProtocolSettings | null = this.proxyProtocol
      ? { from: this.proxyProtocolFrom, timeout: this.proxyHeaderTimeout }
      : null;
    const tls = this.tlsLayer()?.settings ?? null;
    return proxy === null && tls === null
      ? null
      : { proxy, tls: tls as ConnectionSetupSettings['tls'] };
  }

  /**
   * Binds and listens (Node does both in one call), with a backlog of
   * {@link listenBacklog}, then records the real address in `serverAddress`.
   * Rejects with the system error; nothing is left open then.
   */
  override async serverBind(): Promise<void> {
    await super.serverBind();
    this.#proxy = this.proxyProtocol
      ? new ProxyPolicy({ from: this.proxyProtocolFrom, timeout: this.proxyHeaderTimeout })
      : null;
    const server = createServer({ pauseOnConnect: true, allowHalfOpen: true });
    server.on('connection', (socket) => this.#accept(socket));
    const where = this.listenFd === null ? this.listenOptions() : { fd: this.listenFd };
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ ...where, backlog: this.listenBacklog() }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (error) => this.reportError(null, null, error));
    this.socket = server;
    this.serverAddress = this.boundAddress(server);
  }

  /**
   * The kernel's listen backlog: `requestQueueSize`, but at least 511 (Node's
   * default). Node accepts connections as fast as they arrive, so the kernel
   * queue only absorbs bursts between two turns of the event loop; the bound
   * on connections waiting for the server is `requestQueueSize`, enforced by
   * the server's own queue. A backlog of 5 would only make the kernel reset
   * connections in a burst that the server could have taken. May be overridden.
   */
  protected listenBacklog(): number {
    return Math.max(this.requestQueueSize, 511);
  }

  /** Ends the connection after its pending writes (Python's `shutdown(SHUT_WR)`), then closes it. */
  override shutdownRequest(request: Socket): Promise<void> | void {
    if (!request.destroyed && !request.writableEnded) request.end();
    return this.closeRequest(request);
  }

  /**
   * Closes the connection once its last bytes are delivered: unread input is
   * discarded, and an idle connection is destroyed after a short linger.
   */
  override closeRequest(request: Socket): void {
    closeConnection(request);
  }

  /**
   * Stops listening, closes waiting connections, and lets connections that
   * are only draining their last bytes no longer hold the process open.
   */
  override async serverClose(): Promise<void> {
    const server = this.socket;
    this.socket = null;
    if (server?.listening) server.close();
    for (const socket of this.#preparing) socket.destroy();
    await super.serverClose();
    for (const socket of this.#book.open) {
      if (socket.writableEnded) socket.unref();
    }
  }

  /** The listening socket's file descriptor, or -1. */
  override fileno(): number {
    return handleFd(this.socket);
  }

  /** Connections open now (queued, being handled, or draining). */
  get openConnections(): number {
    return this.#book.open.size;
  }

  #accept(socket: Socket): void {
    socket.on('error', ignore);
    if (this.closed) {
      socket.destroy();
      return;
    }
    const peer = this.clientAddressOf(socket);
    this.#book.opened(socket, peer);
    const tls = this.tlsLayer();
    const here = (this as { [kPreparedInHosts]?: boolean })[kPreparedInHosts] !== true;
    if (here && (this.#proxy !== null || tls !== null))
      this.#prepare(socket, peer, { proxy: this.#proxy, tls });
    else if (!this.enqueueRequest(socket, peer)) socket.destroy();
  }

  /** Adds the open connections and their bytes so far. */
  override stats(): ServerStats {
    const stats = super.stats();
    const [read, written] = this.#book.liveBytes();
    stats.connections = this.#book.open.size;
    stats.bytesIn += read;
    stats.bytesOut += written;
    return stats;
  }

  /** A connection the host layer serves: the returned function ends it for the server. @internal */
  [kHostedConnection](socket: Socket): (io?: ConnectionIO) => void {
    return this.#book.hosted(socket);
  }

  /**
   * Reads the PROXY header and runs the TLS handshake, then queues the
   * connection (in {@link #preparations}); a failure closes it and goes to
   * `handleError`.
   */
  #prepare(socket: Socket, peer: A, setup: ConnectionSetup): void {
    this.#preparing.add(socket);
    startPreparation(socket, peer, setup, this.#preparations);
  }

  /** Where connections go once prepared: one object per server, no closure per connection. */
  readonly #preparations: PreparationListener = {
    prepared: (socket: Socket, _peer: unknown, prepared: PreparedConnection | null) => {
      this.#preparing.delete(socket);
      if (prepared === null || this.closed) {
        (prepared?.socket ?? socket).destroy();
      } else if (!this.enqueueRequest(prepared.socket, prepared.clientAddress as A)) {
        prepared.socket.destroy();
      }
    },
    refused: (socket: Socket, peer: unknown, error: unknown) => {
      this.#preparing.delete(socket);
      this[kCounters].rejected++;
      socket.destroy();
      this.reportError(socket, peer as A, error);
    },
  };
}

function ignore(): void {}
