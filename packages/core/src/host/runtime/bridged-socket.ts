/**
 * `BridgedSocket`: what a stream handler in a worker thread gets as
 * `request` when its connection stays with the server's thread (a Unix
 * stream socket, or a Node line that cannot move sockets to threads). A
 * `Duplex` with the `net.Socket` surface handlers use, whose bytes travel
 * as records with credit-based backpressure in both directions.
 *
 * @module
 */
import { Duplex } from 'node:stream';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { kProxyHeader } from '../../connection-setup.js';
import { reviveCertificate, reviveProxyHeader, type TLSFacts } from '../bridged-facts.js';
import {
  ACK,
  ACK_EVERY,
  CLOSE,
  CREDIT,
  DATA,
  DESTROY,
  END,
  FIN,
  KEEP_ALIVE,
  NO_DELAY,
  payloadNumber,
  WRITE,
} from '../records.js';
import { fromWire, type SocketInfo, type WireError } from '../wire.js';

const EMPTY = new Uint8Array(0);

/** Sends a record about this connection to the server's thread (in the next batch). */
export type SendRecord = (type: number, payload?: Uint8Array) => void;

/**
 * The connection as seen from a worker thread. It has the `net.Socket`
 * surface that handlers use: `remoteAddress`, `remotePort`, `remoteFamily`,
 * `localAddress`, `localPort`, `address()`, `setTimeout`, `setNoDelay`,
 * `setKeepAlive`, `end`, `destroy`, `bytesRead`, `bytesWritten`, `ref`,
 * `unref`; reads and writes are those of a `Duplex`. The real socket stays
 * with the server's thread, which moves the bytes.
 *
 * Backpressure: the server sends at most {@link CREDIT} bytes the worker has
 * not consumed (it pauses the socket past that), and the worker has at most
 * {@link CREDIT} bytes written that the server has not handed to the socket
 * (writes wait past that, so `wfile.write` waits).
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
  /**
   * True for a TLS connection (its handshake ran in the server's thread;
   * the bytes bridged here are the cleartext). Then `authorized`,
   * `authorizationError`, `alpnProtocol`, `servername`,
   * `getPeerCertificate`, `getProtocol`, `getCipher` and `isSessionReused`
   * answer as `tls.TLSSocket`'s do.
   */
  readonly encrypted: boolean;
  /** TLS: the client's certificate verified against the server's `ca`. */
  readonly authorized: boolean;
  /** TLS: why the client's certificate did not verify (undefined when it did, or none was asked). */
  readonly authorizationError: string | undefined;
  /** TLS: the protocol agreed with ALPN, or false. */
  readonly alpnProtocol: string | false | null;
  /** TLS: the server name the client asked for (SNI), or false. */
  readonly servername: string | false | null;

  #send: SendRecord;
  #unackedRead = 0;
  #inflight = 0;
  #blocked: (() => void) | null = null;
  #timer: NodeJS.Timeout | null = null;
  #remoteGone = false;
  #detached = false;
  #tls: TLSFacts | undefined;

  /**
   * @param send - adds a record about this connection to the next batch.
   * @param info - the real socket's address fields.
   */
  constructor(send: SendRecord, info: SocketInfo = {}) {
    super({ allowHalfOpen: true, readableHighWaterMark: CREDIT });
    this.#send = send;
    this.remoteAddress = info.remoteAddress;
    this.remotePort = info.remotePort;
    this.remoteFamily = info.remoteFamily;
    this.localAddress = info.localAddress;
    this.localPort = info.localPort;
    this.localFamily = info.localFamily;
    const tls = info.tls;
    this.#tls = tls;
    this.encrypted = tls !== undefined;
    this.authorized = tls?.authorized ?? false;
    this.authorizationError = tls?.authorizationError ?? undefined;
    this.alpnProtocol = tls === undefined ? null : tls.alpnProtocol;
    this.servername = tls === undefined ? null : tls.servername;
    if (tls !== undefined) reviveCertificate(tls.peerCertificate);
    if (info.proxyHeader !== undefined) {
      (this as { [kProxyHeader]?: unknown })[kProxyHeader] = reviveProxyHeader(info.proxyHeader);
    }
  }

  /**
   * TLS: the client's certificate (with `detailed`, its chain through
   * `issuerCertificate`); an empty object when it sent none. Undefined for
   * a connection without TLS.
   */
  getPeerCertificate(detailed = false): PeerCertificate | Record<string, never> | undefined {
    const certificate = this.#tls?.peerCertificate;
    if (certificate === undefined || detailed || !('issuerCertificate' in certificate)) {
      return certificate;
    }
    const { issuerCertificate: _issuer, ...own } = certificate;
    return own as unknown as PeerCertificate;
  }

  /** TLS: the protocol version (`TLSv1.3`), or null. */
  getProtocol(): string | null {
    return this.#tls?.protocol ?? null;
  }

  /** TLS: the cipher suite agreed, or null. */
  getCipher(): ReturnType<TLSSocket['getCipher']> | null {
    return this.#tls?.cipher ?? null;
  }

  /** TLS: whether the session was resumed. */
  isSessionReused(): boolean {
    return this.#tls?.sessionReused ?? false;
  }

  /** Delivers a record from the server's thread. Internal (called by the host). */
  receive(type: number, payload: Buffer): void {
    if (this.#detached) return;
    switch (type) {
      case DATA:
        this.bytesRead += payload.length;
        this.#unackedRead += payload.length;
        this.#touch();
        if (this.push(payload)) this.#ackRead();
        break;
      case END:
        this.push(null);
        break;
      case ACK:
        this.#inflight -= payloadNumber(payload);
        if (this.#inflight < CREDIT && this.#blocked !== null) {
          const go = this.#blocked;
          this.#blocked = null;
          go();
        }
        break;
      case CLOSE:
        this.#remoteGone = true;
        this.destroy(
          payload.length > 0
            ? fromWire(JSON.parse(payload.toString('utf8')) as WireError)
            : undefined,
        );
        break;
      default:
        break;
    }
  }

  /**
   * Resolves once every byte written so far has been handed to the server's
   * thread (or the connection failed). Internal: called after the handler
   * returns, before the server is told the request is done.
   */
  flushWrites(): Promise<void> {
    if (this.destroyed || this.writableEnded) {
      return this.writableFinished || this.destroyed
        ? Promise.resolve()
        : new Promise((resolve) => this.once('finish', resolve).once('close', resolve));
    }
    return new Promise((resolve) => this.write(EMPTY, () => resolve()));
  }

  /** Stops talking to the server's thread and releases timers, without telling it anything. Internal. */
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
    // A copy: the writer may reuse its buffer once the callback ran, before the batch is sent.
    this.#post(WRITE, Buffer.from(chunk));
    if (this.#inflight < CREDIT) callback();
    else this.#blocked = () => callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#post(FIN);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#clearTimer();
    if (!this.#remoteGone) this.#post(DESTROY);
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

  /** Sets `TCP_NODELAY` on the real socket. */
  setNoDelay(noDelay = true): this {
    this.#post(NO_DELAY, Uint8Array.of(noDelay ? 1 : 0));
    return this;
  }

  /** Sets `SO_KEEPALIVE` on the real socket. */
  setKeepAlive(enable = false, initialDelay = 0): this {
    const payload = new Uint8Array(5);
    payload[0] = enable ? 1 : 0;
    new DataView(payload.buffer).setUint32(1, Math.max(0, initialDelay) >>> 0, true);
    this.#post(KEEP_ALIVE, payload);
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
      const payload = new Uint8Array(4);
      new DataView(payload.buffer).setUint32(0, this.#unackedRead, true);
      this.#post(ACK, payload);
      this.#unackedRead = 0;
    }
  }

  #post(type: number, payload?: Uint8Array): void {
    if (this.#remoteGone && type !== DESTROY) return;
    this.#send(type, payload);
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
