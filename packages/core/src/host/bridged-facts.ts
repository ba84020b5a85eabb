/**
 * What a bridged connection's handler may know beyond addresses: the TLS
 * facts of a connection secured in the server's thread (the handshake ran
 * there, before the connection was queued), and its PROXY header. Taken
 * from the real socket by the server, sent with the request (structured
 * clone: `Buffer`s arrive as `Uint8Array`s), and given back their `Buffer`s
 * in the worker.
 *
 * @module
 */
import type { PeerCertificate, TLSSocket } from 'node:tls';
import type { ProxyHeader } from '../proxy-protocol.js';

/** A TLS connection's facts, as `tls.TLSSocket` reports them after the handshake. */
export interface TLSFacts {
  authorized: boolean;
  authorizationError: string | null;
  alpnProtocol: string | false | null;
  servername: string | false | null;
  protocol: string | null;
  cipher: ReturnType<TLSSocket['getCipher']> | null;
  /** `getPeerCertificate(true)`: the chain through `issuerCertificate` (empty object: none). */
  peerCertificate: PeerCertificate | Record<string, never>;
  sessionReused: boolean;
}

/** The TLS facts of a socket secured here, or undefined for a plain socket. */
export function tlsFactsOf(socket: object): TLSFacts | undefined {
  const tls = socket as Partial<TLSSocket>;
  if (tls.encrypted !== true) return undefined;
  const s = socket as TLSSocket;
  return {
    authorized: s.authorized,
    authorizationError: (s.authorizationError as unknown as string | undefined) ?? null,
    alpnProtocol: s.alpnProtocol ?? null,
    servername: (s as { servername?: string | false }).servername ?? null,
    protocol: s.getProtocol(),
    cipher: s.getCipher() ?? null,
    peerCertificate: portableCertificate(s.getPeerCertificate(true) ?? {}),
    sessionReused: s.isSessionReused(),
  };
}

/** A certificate chain to send: its `raw` and `pubkey` copied out of shared buffers. */
function portableCertificate<C extends object>(certificate: C): C {
  return mapChain(certificate, (value) =>
    value instanceof Uint8Array ? new Uint8Array(value) : value,
  );
}

/** Gives `Buffer`s back to a certificate chain's `raw` and `pubkey` (the chain may loop: a root). */
export function reviveCertificate<C extends object>(certificate: C): C {
  return mapChain(certificate, asBuffer);
}

/** Replaces `raw` and `pubkey` along a chain (in place; the chain may loop: a root is its own issuer). */
function mapChain<C extends object>(certificate: C, map: (value: unknown) => unknown): C {
  const seen = new Set<object>();
  let at = certificate as Record<string, unknown> | undefined;
  while (at !== undefined && at !== null && !seen.has(at)) {
    seen.add(at);
    for (const key of ['raw', 'pubkey']) if (key in at) at[key] = map(at[key]);
    at = at.issuerCertificate as Record<string, unknown> | undefined;
  }
  return certificate;
}

/**
 * A PROXY header to send: its TLV values and unique id copied out of the
 * connection's read buffer (a view would send the whole buffer along).
 */
export function portableProxyHeader(header: ProxyHeader): ProxyHeader {
  const tlvs = header.tlvs.map((tlv) => ({ type: tlv.type, value: new Uint8Array(tlv.value) }));
  const portable = { ...header, tlvs } as unknown as ProxyHeader;
  if (header.uniqueId !== undefined) portable.uniqueId = new Uint8Array(header.uniqueId) as Buffer;
  return portable;
}

/** Gives `Buffer`s back to a PROXY header's TLV values and unique id. */
export function reviveProxyHeader(header: ProxyHeader): ProxyHeader {
  const tlvs = header.tlvs.map((tlv) => ({ ...tlv, value: asBuffer(tlv.value) as Buffer }));
  const revived: ProxyHeader = { ...header, tlvs };
  if (header.uniqueId !== undefined) revived.uniqueId = asBuffer(header.uniqueId) as Buffer;
  return revived;
}

function asBuffer(value: unknown): unknown {
  if (value instanceof Uint8Array && !Buffer.isBuffer(value)) {
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  }
  return value;
}
