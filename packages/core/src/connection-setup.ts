/**
 * The preparation a stream connection goes through before its handler gets
 * it: the PROXY header (who the client really is), then the TLS handshake.
 * Its settings are plain data ({@link ProxyProtocolSettings},
 * `TLSSettings`) that a worker thread or child process can rebuild it from.
 *
 * @module
 */
import type { Socket } from 'node:net';
import { formatAddress } from './base-server.js';
import { InvalidArgumentError } from './errors.js';
import {
  DEFAULT_PROXY_HEADER_TIMEOUT,
  HeaderDeadlines,
  type HeaderRead,
  readHeader,
} from './proxy-header-reader.js';
import { type ProxyHeader, ProxyProtocolError } from './proxy-protocol.js';
import { type TLSHandshakeError, TLSLayer, type TLSSettings } from './tls-layer.js';
import { TrustedSources } from './trusted-sources.js';
import type { Address } from './types.js';

/** The PROXY protocol policy of a server, as data. */
export interface ProxyProtocolSettings {
  /** Addresses and CIDR blocks allowed to send a header; connections from elsewhere are closed. */
  from: readonly string[];
  /** How long a peer has to send its whole header, in ms. */
  timeout: number;
}

/** A connection ready for its handler. */
export interface PreparedConnection {
  /** What the handler reads and writes: the accepted socket, or its TLS socket. */
  socket: Socket;
  /** The client: from the PROXY header when there is one that names it, else the peer. */
  clientAddress: Address;
}

/** A PROXY policy ready to check connections. */
export class ProxyPolicy {
  /** The trusted sources. */
  readonly trusted: TrustedSources;
  /** The header deadlines of the connections being read (one sweeping timer). */
  readonly deadlines: HeaderDeadlines;

  /** @throws InvalidArgumentError for a bad source or timeout. */
  constructor(settings: ProxyProtocolSettings) {
    this.trusted = new TrustedSources(settings.from);
    const timeout = settings.timeout ?? DEFAULT_PROXY_HEADER_TIMEOUT;
    if (!(timeout > 0)) {
      throw new InvalidArgumentError(
        `proxyHeaderTimeout must be a number of ms > 0, got ${String(timeout)}`,
      );
    }
    this.deadlines = new HeaderDeadlines(timeout);
  }
}

/** The connection setup of a server: a PROXY policy, a TLS layer, both, or neither. */
export interface ConnectionSetup {
  proxy: ProxyPolicy | null;
  tls: TLSLayer | null;
}

/**
 * A server's connection setup as data (what a worker thread or child process
 * is sent to build its own {@link ConnectionSetup} from).
 */
export interface ConnectionSetupSettings {
  proxy: ProxyProtocolSettings | null;
  tls: TLSSettings | null;
}

/** Builds a {@link ConnectionSetup} from its data; throws `InvalidArgumentError` for bad settings. */
export function buildConnectionSetup(settings: ConnectionSetupSettings): ConnectionSetup {
  return {
    proxy: settings.proxy === null ? null : new ProxyPolicy(settings.proxy),
    tls: settings.tls === null ? null : new TLSLayer(settings.tls),
  };
}

/**
 * Set (as a getter returning true) by a mix-in whose hosts prepare
 * connections themselves: a stream server then queues each connection as
 * accepted, and the host (worker thread or child process) reads its PROXY
 * header and runs its TLS handshake where the handler runs. @internal
 */
export const kPreparedInHosts: unique symbol = Symbol.for(
  '@socketserver/core.preparedInHosts',
) as never;

/** A stream server's connection setup as data (a method under this symbol), or null. @internal */
export const kConnectionSetup: unique symbol = Symbol.for(
  '@socketserver/core.connectionSetup',
) as never;

/** Called by a stream server when its connection setup changed (a new certificate). @internal */
export const kConnectionSetupChanged: unique symbol = Symbol.for(
  '@socketserver/core.connectionSetupChanged',
) as never;

type WithSetup = {
  [kConnectionSetup]?: () => ConnectionSetupSettings | null;
};

/** The connection setup of `server` as data, or null (not a stream server, or none). @internal */
export function connectionSetupOf(server: object): ConnectionSetupSettings | null {
  return (server as WithSetup)[kConnectionSetup]?.() ?? null;
}

/**
 * Hears how a preparation ended: the connection ready for its handler,
 * `null` when the peer left without sending a byte (a TCP health check or
 * port probe, not worth a report), or the error that refused it (the socket
 * is then to be closed and the error reported).
 */
export interface PreparationListener {
  prepared(socket: Socket, peer: Address, prepared: PreparedConnection | null): void;
  refused(socket: Socket, peer: Address, error: ProxyProtocolError | TLSHandshakeError): void;
}

/**
 * Where a connection keeps its PROXY header (a property, not a WeakMap:
 * cheaper to collect). Registered (`Symbol.for`): a worker's host runtime
 * and the handler's copy of this package see the same symbol.
 */
export const kProxyHeader: unique symbol = Symbol.for('@socketserver/core.proxyHeader') as never;
type WithHeader = { [kProxyHeader]?: ProxyHeader };

/**
 * The PROXY header a connection arrived with, or `undefined` (no PROXY
 * protocol on this server). Handlers call it with `this.request`; a
 * `StreamRequestHandler` has it as `this.proxyHeader`.
 */
export function proxyHeaderOf(socket: object): ProxyHeader | undefined {
  return (socket as WithHeader)[kProxyHeader];
}

/**
 * Prepares an accepted connection: checks the peer is a trusted PROXY
 * source and reads its header (when `setup.proxy`), then runs the TLS
 * handshake (when `setup.tls`), and tells `listener`. For the servers: one
 * object per connection and no promise on the PROXY path.
 */
export function startPreparation(
  socket: Socket,
  peer: Address,
  setup: ConnectionSetup,
  listener: PreparationListener,
): void {
  new Preparation(socket, peer, setup, listener).start();
}

/**
 * {@link startPreparation} as a promise: resolves with the connection for
 * the handler, or `null` when the peer left without a byte; rejects with
 * {@link ProxyProtocolError} or {@link TLSHandshakeError} (the caller then
 * closes the connection and reports the error).
 */
export function prepareConnection(
  socket: Socket,
  peer: Address,
  setup: ConnectionSetup,
): Promise<PreparedConnection | null> {
  return new Promise((resolve, reject) => {
    startPreparation(socket, peer, setup, {
      prepared: (_socket, _peer, prepared) => resolve(prepared),
      refused: (_socket, _peer, error) => reject(error),
    });
  });
}

/** One connection's preparation: the PROXY step, then the TLS step. */
class Preparation implements HeaderRead {
  #header: ProxyHeader | null = null;
  #clientAddress: Address;
  /** The header reading's state (see `readHeader`): kept here, one object per connection. */
  received: Buffer = EMPTY;
  startedAt = 0;
  deadlines: HeaderDeadlines | null = null;

  constructor(
    readonly socket: Socket,
    readonly peer: Address,
    readonly setup: ConnectionSetup,
    readonly listener: PreparationListener,
  ) {
    this.#clientAddress = peer;
  }

  start(): void {
    const proxy = this.setup.proxy;
    const peer = this.peer;
    if (proxy === null) {
      this.#secure();
    } else if (typeof peer !== 'string' && peer.host === '') {
      // An IP peer without an address is gone already (reset before it was accepted: a TCP check).
      this.#done(null);
    } else if (!proxy.trusted.trusts(peer)) {
      this.headerFailed(
        new ProxyProtocolError(
          'untrusted',
          `${formatAddress(peer)} is not among the trusted sources (${proxy.trusted.sources.join(', ')})`,
        ),
      );
    } else {
      readHeader(this, proxy.deadlines);
    }
  }

  headerRead(header: ProxyHeader | null): void {
    this.#header = header;
    if (header?.source) this.#clientAddress = header.source;
    if (header === null) this.#done(null);
    else this.#secure();
  }

  headerFailed(error: ProxyProtocolError): void {
    this.listener.refused(this.socket, this.peer, error);
  }

  /** The TLS step, when there is one. */
  #secure(): void {
    const tls = this.setup.tls;
    if (tls === null) {
      this.#done(this.socket);
      return;
    }
    const before = this.socket.bytesRead;
    tls.accept(this.socket).then(
      (secured) => {
        secured.on('error', ignore); // as for plain connections: errors reach the handler through rfile/wfile
        secured.pause();
        this.#done(secured);
      },
      (error: TLSHandshakeError) => {
        // A peer that left before sending a byte of TLS: a probe, not worth a report.
        if (this.socket.bytesRead === before && isPeerGone(error)) this.#done(null);
        else this.listener.refused(this.socket, this.peer, error);
      },
    );
  }

  #done(socket: Socket | null): void {
    if (socket !== null && this.#header !== null)
      (socket as WithHeader)[kProxyHeader] = this.#header;
    const prepared = socket === null ? null : { socket, clientAddress: this.#clientAddress };
    this.listener.prepared(this.socket, this.peer, prepared);
  }
}

function isPeerGone(error: TLSHandshakeError): boolean {
  const code = (error.cause as { code?: unknown } | undefined)?.code;
  return code === 'ECONNRESET' || code === 'EPIPE';
}

function ignore(): void {}

const EMPTY: Buffer = Buffer.alloc(0);
