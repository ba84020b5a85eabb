/**
 * The type-length-value fields of a PROXY protocol version 2 header: the
 * list as sent, the well-known ones decoded, and the CRC32C checksum check.
 *
 * @module
 */

/** One type-length-value field of a version 2 header. */
export interface ProxyTLV {
  /** The type byte (`PP2_TYPE_*`: 0x01 ALPN, 0x02 AUTHORITY, 0x05 UNIQUE_ID, 0x20 SSL, 0xE0-0xEF custom, ...). */
  type: number;
  /** The value's bytes (a view into the header). */
  value: Buffer;
}

/** What the balancer says about the client's TLS connection to it (`PP2_TYPE_SSL`). */
export interface ProxySSLInfo {
  /** The client connected over TLS (`PP2_CLIENT_SSL`). */
  ssl: boolean;
  /** The client presented a certificate on this connection (`PP2_CLIENT_CERT_CONN`). */
  certConnection: boolean;
  /** The client presented a certificate at least once in the TLS session (`PP2_CLIENT_CERT_SESS`). */
  certSession: boolean;
  /** 0 when the client's certificate was verified; otherwise not. */
  verify: number;
  /** The TLS version, e.g. `TLSv1.3` (`PP2_SUBTYPE_SSL_VERSION`). */
  version?: string;
  /** The certificate's Common Name (`PP2_SUBTYPE_SSL_CN`). */
  cn?: string;
  /** The cipher, e.g. `ECDHE-RSA-AES128-GCM-SHA256` (`PP2_SUBTYPE_SSL_CIPHER`). */
  cipher?: string;
  /** The certificate's signature algorithm (`PP2_SUBTYPE_SSL_SIG_ALG`). */
  sigAlg?: string;
  /** The certificate's key algorithm (`PP2_SUBTYPE_SSL_KEY_ALG`). */
  keyAlg?: string;
}

/** The well-known TLVs of a header, decoded; each is absent when the balancer did not send it. */
export interface ProxyTLVs {
  /** The protocol the client negotiated with ALPN (`PP2_TYPE_ALPN`). */
  alpn?: string;
  /** The host name the client asked for, usually its TLS SNI (`PP2_TYPE_AUTHORITY`). */
  authority?: string;
  /** The balancer's unique id of the connection (`PP2_TYPE_UNIQUE_ID`, at most 128 bytes). */
  uniqueId?: Buffer;
  /** The client's TLS connection to the balancer (`PP2_TYPE_SSL`). */
  ssl?: ProxySSLInfo;
  /** The network namespace the connection was accepted in (`PP2_TYPE_NETNS`). */
  netns?: string;
}

/** The TLVs of a header: the list and the decoded well-known ones. */
export interface DecodedTLVs {
  list: ProxyTLV[];
  known: ProxyTLVs;
  /** Offset of the CRC32C value within the TLV area, or -1. */
  checksumAt: number;
}

const PP2_TYPE_ALPN = 0x01;
const PP2_TYPE_AUTHORITY = 0x02;
const PP2_TYPE_CRC32C = 0x03;
const PP2_TYPE_UNIQUE_ID = 0x05;
const PP2_TYPE_SSL = 0x20;
const PP2_TYPE_NETNS = 0x30;
const SSL_SUBTYPES: Record<number, keyof ProxySSLInfo> = {
  33: 'version',
  34: 'cn',
  35: 'cipher',
  36: 'sigAlg',
  37: 'keyAlg',
};

type Malformed = (message: string) => Error;

/** Splits a TLV area into fields; throws `malformed` for a field that runs past the end. */
export function decodeTLVs(area: Buffer, malformed: Malformed): DecodedTLVs {
  const list = splitTLVs(area, malformed);
  const known: ProxyTLVs = {};
  let checksumAt = -1;
  let offset = 0;
  for (const { type, value } of list) {
    if (type === PP2_TYPE_ALPN) known.alpn = value.toString('latin1');
    else if (type === PP2_TYPE_AUTHORITY) known.authority = value.toString('utf8');
    else if (type === PP2_TYPE_UNIQUE_ID) known.uniqueId = value;
    else if (type === PP2_TYPE_NETNS) known.netns = value.toString('latin1');
    else if (type === PP2_TYPE_SSL) known.ssl = decodeSSL(value, malformed);
    else if (type === PP2_TYPE_CRC32C) {
      if (value.length !== 4) throw malformed('CRC32C field is not 4 bytes');
      checksumAt = offset + 3;
    }
    offset += 3 + value.length;
  }
  return { list, known, checksumAt };
}

function splitTLVs(area: Buffer, malformed: Malformed): ProxyTLV[] {
  const list: ProxyTLV[] = [];
  for (let at = 0; at < area.length; ) {
    if (at + 3 > area.length) throw malformed('a TLV field is cut short');
    const end = at + 3 + area.readUInt16BE(at + 1);
    if (end > area.length) throw malformed('a TLV field runs past the header');
    list.push({ type: area[at]!, value: area.subarray(at + 3, end) });
    at = end;
  }
  return list;
}

function decodeSSL(value: Buffer, malformed: Malformed): ProxySSLInfo {
  if (value.length < 5) throw malformed('SSL field is shorter than 5 bytes');
  const client = value[0]!;
  const info: ProxySSLInfo = {
    ssl: (client & 0x01) !== 0,
    certConnection: (client & 0x02) !== 0,
    certSession: (client & 0x04) !== 0,
    verify: value.readUInt32BE(1),
  };
  for (const { type, value: sub } of splitTLVs(value.subarray(5), malformed)) {
    const key = SSL_SUBTYPES[type];
    if (key !== undefined)
      (info as unknown as Record<string, string>)[key] = sub.toString('latin1');
  }
  return info;
}

/**
 * Checks a CRC32C field when the header has one: the checksum of the whole
 * header with the field's value zeroed must equal the value (the
 * specification: otherwise the receiver must treat the connection as invalid).
 */
export function verifyChecksum(
  header: Buffer,
  areaStart: number,
  tlvs: DecodedTLVs,
  malformed: Malformed,
): void {
  if (tlvs.checksumAt < 0) return;
  const at = areaStart + tlvs.checksumAt;
  const sent = header.readUInt32BE(at);
  const copy = Buffer.from(header);
  copy.writeUInt32BE(0, at);
  if (crc32c(copy) !== sent) throw malformed('CRC32C checksum does not match the header');
}

let table: Uint32Array | null = null;

/** CRC-32C (Castagnoli), as the PROXY protocol specifies; node:zlib's crc32 is the other polynomial. */
export function crc32c(data: Uint8Array): number {
  table ??= makeTable(0x82f63b78);
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = table[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function makeTable(polynomial: number): Uint32Array {
  const out = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? polynomial ^ (c >>> 1) : c >>> 1;
    out[n] = c >>> 0;
  }
  return out;
}
