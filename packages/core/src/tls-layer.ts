/**
 * The TLS handshake of a stream connection, done where its handler runs.
 *
 * Each {@link TLSLayer} holds a `tls.Server` that never listens: accepted
 * connections are handed to it with `emit('connection', socket)`, the way
 * Node documents for injecting connections, so certificate verification,
 * SNI, ALPN and the handshake timeout are Node's own server-side code
 * (a bare `new TLSSocket(socket, { isServer: true })` would not reject a
 * client certificate that fails verification). The layer is built from
 * {@link TLSSettings}, plain data that a worker thread or child process can
 * receive and build its own layer from.
 *
 * @module
 */
import type { Socket } from 'node:net';
import {
  createServer,
  type SecureContextOptions,
  type Server,
  type TLSSocket,
  type TlsOptions,
} from 'node:tls';
import { InvalidArgumentError, SocketServerError } from './errors.js';

/** Certificate and key material, for the default identity or one SNI name. */
export type TLSIdentity = Pick<
  SecureContextOptions,
  | 'cert'
  | 'key'
  | 'passphrase'
  | 'pfx'
  | 'ca'
  | 'crl'
  | 'ciphers'
  | 'sigalgs'
  | 'ecdhCurve'
  | 'dhparam'
  | 'minVersion'
  | 'maxVersion'
  | 'honorCipherOrder'
  | 'sessionTimeout'
  | 'ticketKeys'
  | 'sessionIdContext'
>;

/**
 * A server's TLS settings: data only (strings, buffers, numbers), so they can
 * be sent to a worker thread or child process.
 */
export interface TLSSettings extends TLSIdentity {
  /** Ask clients for a certificate (default false). */
  requestCert?: boolean;
  /**
   * With `requestCert`: refuse a client whose certificate is missing or does
   * not verify against `ca` (default true). When false the handshake
   * succeeds and the handler reads `authorized` and `authorizationError`.
   */
  rejectUnauthorized?: boolean;
  /** Application protocols offered through ALPN, most preferred first (for example `['h2', 'http/1.1']`). */
  ALPNProtocols?: string[];
  /**
   * Identities by server name (SNI): `{ 'example.com': { cert, key }, '*.example.org': { cert, key } }`.
   * A client asking for another name, or for none, gets the default identity.
   */
  sni?: Record<string, TLSIdentity>;
  /** How long a client has to complete the handshake, in ms (default 10 000). */
  handshakeTimeout?: number;
}

/** Default of {@link TLSSettings.handshakeTimeout}, in ms. */
export const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;

/**
 * A TLS handshake failed: the client spoke something other than TLS, offered
 * no common protocol or cipher, presented a certificate that did not verify,
 * or was slower than `handshakeTimeout`. Code `ERR_SOCKETSERVER_TLS_HANDSHAKE`;
 * `cause` is Node's error (its `code`, for example
 * `ERR_SSL_NO_APPLICATION_PROTOCOL` or `ERR_TLS_HANDSHAKE_TIMEOUT`). The
 * connection is closed and never reaches a handler.
 */
export class TLSHandshakeError extends SocketServerError {
  /** @param cause - Node's error. */
  constructor(cause: unknown) {
    const detail = (cause as { code?: unknown })?.code ?? (cause as Error)?.message;
    super('ERR_SOCKETSERVER_TLS_HANDSHAKE', `TLS handshake failed (${String(detail)})`, { cause });
  }
}

/** A handshake in progress: how to settle it. */
interface Pending {
  resolve(socket: TLSSocket): void;
  reject(error: unknown): void;
}

/**
 * The server side of TLS for accepted connections. Immutable: a new
 * certificate is a new layer (connections already secured keep theirs).
 */
export class TLSLayer {
  /** The settings this layer was built from. */
  readonly settings: Readonly<TLSSettings>;
  readonly #server: Server;
  /** Handshakes in progress, by the peer's address and port (unique among live TCP connections). */
  readonly #pending = new Map<string, Pending>();

  /**
   * Builds the layer; throws {@link InvalidArgumentError} (with the OpenSSL
   * error as `cause`) for missing or unusable certificate material.
   * @param settings - the certificate, key and options.
   */
  constructor(settings: TLSSettings) {
    this.settings = checkSettings(settings);
    this.#server = buildServer(this.settings);
    this.#server.on('secureConnection', (socket: TLSSocket) => this.#secured(socket));
    this.#server.on('tlsClientError', (error: Error, socket: TLSSocket) =>
      this.#failed(error, socket),
    );
  }

  /**
   * Runs the server side of the handshake on an accepted connection that
   * has not been read past what the handshake needs. Resolves with the
   * secure socket, which reads and writes cleartext; rejects with
   * {@link TLSHandshakeError}.
   */
  accept(socket: Socket): Promise<TLSSocket> {
    const key = peerKey(socket);
    if (key === null || this.#pending.has(key)) {
      socket.destroy();
      return Promise.reject(new TLSHandshakeError(new Error('the connection has no peer address')));
    }
    return new Promise<TLSSocket>((resolve, reject) => {
      const pending = { resolve, reject };
      this.#pending.set(key, pending);
      // Whatever happens to the connection, the wait ends with it.
      socket.once('close', () => this.#settle(key, pending, null, closedEarly()));
      // Until the handshake is done an end of stream must end the attempt, not wait for the timeout.
      socket.allowHalfOpen = false;
      this.#server.emit('connection', socket);
    });
  }

  #secured(socket: TLSSocket): void {
    const key = peerKey(socket);
    const pending = key === null ? undefined : this.#pending.get(key);
    if (pending === undefined) {
      socket.destroy();
      return;
    }
    // Handlers read to end of stream and may still write: half-open, as plain connections are.
    socket.allowHalfOpen = true;
    this.#settle(key!, pending, socket, null);
  }

  #failed(error: Error, socket: TLSSocket): void {
    const key = peerKey(socket);
    socket.destroy();
    const pending = key === null ? undefined : this.#pending.get(key);
    if (pending !== undefined) this.#settle(key!, pending, null, new TLSHandshakeError(error));
  }

  #settle(key: string, pending: Pending, socket: TLSSocket | null, error: unknown): void {
    if (this.#pending.get(key) !== pending) return;
    this.#pending.delete(key);
    if (socket !== null) pending.resolve(socket);
    else pending.reject(error);
  }
}

/** The connection closed before the handshake completed. */
function closedEarly(): TLSHandshakeError {
  return new TLSHandshakeError(
    Object.assign(new Error('the connection closed during the TLS handshake'), {
      code: 'ECONNRESET',
    }),
  );
}

function peerKey(socket: Socket): string | null {
  const { remoteAddress, remotePort } = socket;
  return remoteAddress === undefined || remotePort === undefined
    ? null
    : `${remoteAddress} ${remotePort}`;
}

function checkSettings(settings: TLSSettings): Readonly<TLSSettings> {
  if (typeof settings !== 'object' || settings === null) {
    throw new InvalidArgumentError('TLS settings must be an object with cert and key (or pfx)');
  }
  if (!settings.pfx && !(settings.cert && settings.key)) {
    throw new InvalidArgumentError(
      'TLS settings need a certificate and its key: cert and key (or pfx)',
    );
  }
  const timeout = settings.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT;
  if (!(timeout > 0)) {
    throw new InvalidArgumentError(
      `handshakeTimeout must be a number of ms > 0, got ${String(timeout)}`,
    );
  }
  return Object.freeze({ ...settings, handshakeTimeout: timeout });
}

function buildServer(settings: Readonly<TLSSettings>): Server {
  const { sni, ...options } = settings;
  try {
    const server = createServer(options as TlsOptions);
    for (const [name, identity] of Object.entries(sni ?? {})) server.addContext(name, identity);
    return server;
  } catch (error) {
    throw Object.assign(
      new InvalidArgumentError(
        `TLS settings rejected by OpenSSL: ${(error as Error).message.split('\n')[0]}`,
      ),
      { cause: error },
    );
  }
}
