import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import {
  type InetAddress,
  InvalidArgumentError,
  type RequestHandlerClass,
  TLSLayer,
  type TLSSettings,
} from '@socketserver/core';
import type { InetAddressInput } from './address.js';
import { TCPServer } from './tcp-server.js';

/**
 * A TLS server: a {@link TCPServer} whose connections are TLS. The handler is
 * the same one a TCP server runs: it reads and writes cleartext through
 * `rfile` and `wfile`, and `this.request` is Node's `TLSSocket`
 * (`getPeerCertificate()`, `authorized`, `alpnProtocol`, `servername`).
 *
 * ```ts
 * class EventLoopTLSServer extends EventLoopMixIn(TLSServer) {}
 * const server = await EventLoopTLSServer.create({ host: '::', port: 8443 }, Handler, {
 *   tls: { cert: readFileSync('cert.pem'), key: readFileSync('key.pem') },
 * });
 * ```
 *
 * The handshake runs where the handler runs, before the connection is
 * queued, on Node's own server-side TLS (a `tls.Server` that never listens:
 * certificate verification, SNI, ALPN and the handshake timeout are Node's).
 * A failed handshake (a client speaking plaintext, no common protocol, a
 * client certificate that does not verify, `handshakeTimeout` passed) closes
 * the connection and goes to `handleError` as `TLSHandshakeError`
 * (`ERR_SOCKETSERVER_TLS_HANDSHAKE`, Node's error as `cause`); a client that
 * leaves before sending a byte is not reported.
 *
 * Settings beyond `TCPServer`'s: `tls` (required, {@link TLSSettings}: `cert`
 * and `key` or `pfx`, `ca`, `requestCert`, `rejectUnauthorized`,
 * `ALPNProtocols`, `sni`, `handshakeTimeout`, and Node's cipher and version
 * options). With `proxyProtocol`, the PROXY header is read first, in
 * cleartext, as load balancers send it.
 */
export class TLSServer extends TCPServer {
  /** The TLS settings (certificate, key, and options); read when the server binds. */
  tls: TLSSettings | null = null;

  #layer: TLSLayer | null = null;

  /**
   * Stores the address and handler; does no I/O (see `create`, which also
   * takes `{ tls }`).
   * @param serverAddress - `{ host, port }` or `[host, port]`.
   * @param RequestHandlerClass - the handler class.
   */
  constructor(
    serverAddress: InetAddressInput,
    RequestHandlerClass: RequestHandlerClass<Socket, InetAddress>,
  ) {
    super(serverAddress, RequestHandlerClass);
  }

  /**
   * Checks the TLS settings (rejecting with `InvalidArgumentError` when the
   * certificate or key is missing or unusable), then binds as `TCPServer`.
   */
  override async serverBind(): Promise<void> {
    if (this.tls === null) {
      throw new InvalidArgumentError(
        'TLSServer needs its certificate and key: create(address, Handler, { tls: { cert, key } })',
      );
    }
    this.#layer = new TLSLayer(this.tls);
    await super.serverBind();
  }

  /**
   * Replaces the TLS settings (a renewed certificate, say) for connections
   * accepted from now on; connections already secured, and those in their
   * handshake, keep what they started with. Throws `InvalidArgumentError`
   * for unusable settings, and then keeps the current ones.
   */
  setTLSSettings(settings: TLSSettings): void {
    const layer = new TLSLayer(settings);
    this.tls = settings;
    this.#layer = layer;
    this.connectionSetupChanged();
  }

  protected override tlsLayer(): TLSLayer | null {
    return this.#layer;
  }
}

/** What `this.request` is in a handler of a {@link TLSServer}. */
export type TLSRequest = TLSSocket;
