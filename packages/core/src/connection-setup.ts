/**
 * The preparation a stream connection goes through before its handler gets
 * it: the PROXY header (who the client really is), then the TLS handshake.
 * One function, run wherever the connection's handler runs; its settings are
 * plain data ({@link ConnectionSetupSettings}) that a worker thread or child
 * process can rebuild it from.
 *
 * @module
 */
import type { Socket } from 'node:net';
import { formatAddress } from './base-server.js';
import { InvalidArgumentError } from './errors.js';
import { DEFAULT_PROXY_HEADER_TIMEOUT, readProxyHeader } from './proxy-header-reader.js';
import { type ProxyHeader, ProxyProtocolError } from './proxy-protocol.js';
import type { TLSHandshakeError, TLSLayer } from './tls-layer.js';
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
  /** The header deadline, in ms. */
  readonly timeout: number;

  /** @throws InvalidArgumentError for a bad source or timeout. */
  constructor(settings: ProxyProtocolSettings) {
    this.trusted = new TrustedSources(settings.from);
    this.timeout = settings.timeout ?? DEFAULT_PROXY_HEADER_TIMEOUT;
    if (!(this.timeout > 0)) {
      throw new InvalidArgumentError(
        `proxyHeaderTimeout must be a number of ms > 0, got ${String(this.timeout)}`,
      );
    }
  }
}

/** The connection setup of a server: a PROXY policy, a TLS layer, both, or neither. */
export interface ConnectionSetup {
  proxy: ProxyPolicy | null;
  tls: TLSLayer | null;
}

const proxyHeaders = new WeakMap<object, ProxyHeader>();

/**
 * The PROXY header a connection arrived with, or `undefined` (no PROXY
 * protocol on this server). Handlers call it with `this.request`; a
 * `StreamRequestHandler` has it as `this.proxyHeader`.
 */
export function proxyHeaderOf(socket: object): ProxyHeader | undefined {
  return proxyHeaders.get(socket);
}

/**
 * Prepares an accepted connection: checks the peer is a trusted PROXY
 * source and reads its header (when `setup.proxy`), then runs the TLS
 * handshake (when `setup.tls`). Resolves with the connection for the
 * handler, or with `null` when the peer left without sending a byte (a TCP
 * health check or port probe, not worth a report). Rejects with
 * {@link ProxyProtocolError} or {@link TLSHandshakeError}; the caller closes
 * the connection and reports the error.
 */
export async function prepareConnection(
  socket: Socket,
  peer: Address,
  setup: ConnectionSetup,
): Promise<PreparedConnection | null> {
  let clientAddress = peer;
  let header: ProxyHeader | null = null;
  if (setup.proxy !== null) {
    // An IP peer without an address is gone already (reset before it was accepted: a TCP check).
    if (typeof peer !== 'string' && peer.host === '') return null;
    if (!setup.proxy.trusted.trusts(peer)) {
      throw new ProxyProtocolError(
        'untrusted',
        `${formatAddress(peer)} is not among the trusted sources (${setup.proxy.trusted.sources.join(', ')})`,
      );
    }
    header = await readProxyHeader(socket, setup.proxy.timeout);
    if (header === null) return null;
    if (header.source !== null) clientAddress = header.source;
  }
  const prepared = setup.tls === null ? socket : await secure(socket, setup.tls);
  if (prepared === null) return null;
  if (header !== null) proxyHeaders.set(prepared, header);
  return { socket: prepared, clientAddress };
}

/** The TLS handshake; `null` when the peer closed before sending a byte of it. */
async function secure(socket: Socket, tls: TLSLayer): Promise<Socket | null> {
  const before = socket.bytesRead;
  try {
    const secured = await tls.accept(socket);
    secured.on('error', ignore); // as for plain connections: errors reach the handler through rfile/wfile
    secured.pause();
    return secured;
  } catch (error) {
    if (socket.bytesRead === before && isPeerGone(error)) return null;
    throw error;
  }
}

function isPeerGone(error: unknown): boolean {
  const code = ((error as TLSHandshakeError).cause as { code?: unknown } | undefined)?.code;
  return code === 'ECONNRESET' || code === 'EPIPE';
}

function ignore(): void {}
