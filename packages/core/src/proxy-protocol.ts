/**
 * The PROXY protocol (HAProxy's `proxy-protocol.txt`, versions 1 and 2): the
 * header a load balancer sends first on each connection to name the client
 * it accepted. This module parses it from the bytes received so far; reading
 * it from a connection is `proxy-header-reader.ts`.
 *
 * Written here rather than taken from npm: `proxy-protocol-js` and
 * `@balena/proxy-protocol-parser` parse a header already cut out of the
 * stream (neither says where it ends), read no TLVs, and accept malformed
 * input (see this package's README).
 *
 * @module
 */
import { isIP } from 'node:net';
import { SocketServerError } from './errors.js';
import {
  type DecodedTLVs,
  decodeTLVs,
  type ProxyTLV,
  type ProxyTLVs,
  verifyChecksum,
} from './proxy-tlv.js';
import type { Address, InetAddress } from './types.js';

/** Why a PROXY header was refused: the `reason` of a {@link ProxyProtocolError}. */
export type ProxyProtocolFailure = 'untrusted' | 'malformed' | 'truncated' | 'timeout';

/**
 * A connection's PROXY header was refused: it came from a source not in the
 * trusted list, was malformed, ended before it was complete, or was slower
 * than the deadline. Code `ERR_SOCKETSERVER_PROXY_PROTOCOL`. The connection
 * is closed and never reaches a handler.
 */
export class ProxyProtocolError extends SocketServerError {
  /**
   * @param reason - which rule the header broke.
   * @param message - what exactly was wrong.
   */
  constructor(
    readonly reason: ProxyProtocolFailure,
    message: string,
  ) {
    super('ERR_SOCKETSERVER_PROXY_PROTOCOL', `PROXY protocol header ${reason}: ${message}`);
  }
}

/** A parsed PROXY header. */
export interface ProxyHeader extends ProxyTLVs {
  /** 1 (text) or 2 (binary). */
  version: 1 | 2;
  /**
   * `proxy`: the connection is relayed for `source`. `local`: the balancer
   * itself connected (a health check); the real endpoints stand.
   */
  command: 'proxy' | 'local';
  /** The relayed connection's transport, when the header says: `stream` (TCP) or `dgram`. */
  transport: 'stream' | 'dgram' | 'unspec';
  /** The original client; `null` when the header does not name one (LOCAL, UNKNOWN, UNSPEC). */
  source: Address | null;
  /** The address the client connected to, at the balancer; `null` as for `source`. */
  destination: Address | null;
  /** Version 2's type-length-value fields, in order (empty for version 1). */
  tlvs: readonly ProxyTLV[];
}

/** A complete header and how many bytes it took. */
export interface ProxyParse {
  header: ProxyHeader;
  /** Bytes of the header; the connection's own data starts after them. */
  length: number;
}

const V1_PREFIX = Buffer.from('PROXY ');
/** Version 1's longest line, CRLF included (the specification's limit). */
export const V1_MAX_LENGTH = 107;
const V2_SIGNATURE = Buffer.from([
  0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
]);
const V2_FIXED = 16;
/** Address block sizes of version 2, by family nibble (INET, INET6, UNIX). */
const V2_ADDRESS_LENGTH: Record<number, number> = { 1: 12, 2: 36, 3: 216 };
const V2_TRANSPORT = ['unspec', 'stream', 'dgram'] as const;

/**
 * Parses a PROXY header at the start of `data`. Returns `null` while the
 * bytes so far are a valid beginning of a header, the header and its length
 * once it is complete. Throws {@link ProxyProtocolError} (`malformed`) as soon
 * as the bytes cannot begin a header: a receiver configured for the PROXY
 * protocol must not guess that a connection has none.
 */
export function parseProxyHeader(data: Buffer): ProxyParse | null {
  if (data.length === 0) return null;
  if (data[0] === V1_PREFIX[0]) return parseV1(data);
  if (data[0] === V2_SIGNATURE[0]) return parseV2(data);
  throw malformed('the connection does not start with a PROXY header');
}

function parseV1(data: Buffer): ProxyParse | null {
  expectPrefix(data, V1_PREFIX, 'version 1 must start with "PROXY "');
  const end = data.indexOf('\r\n');
  if (end < 0) {
    if (data.length >= V1_MAX_LENGTH)
      throw malformed(`version 1 line longer than ${V1_MAX_LENGTH} bytes`);
    return null;
  }
  if (end + 2 > V1_MAX_LENGTH) throw malformed(`version 1 line longer than ${V1_MAX_LENGTH} bytes`);
  return { header: v1Header(data.toString('latin1', V1_PREFIX.length, end)), length: end + 2 };
}

/** The fields after "PROXY ": `TCP4|TCP6 src dst sport dport`, or `UNKNOWN` and anything. */
function v1Header(line: string): ProxyHeader {
  const fields = line.split(' ');
  const base = { version: 1, command: 'proxy', tlvs: NO_TLV_LIST } as const;
  if (fields[0] === 'UNKNOWN') {
    return { ...base, transport: 'unspec', source: null, destination: null };
  }
  if (fields.length !== 5 || (fields[0] !== 'TCP4' && fields[0] !== 'TCP6')) {
    throw malformed(
      `version 1 line is not "TCP4|TCP6 SRC DST SPORT DPORT": ${JSON.stringify(line)}`,
    );
  }
  const family = fields[0] === 'TCP4' ? 'IPv4' : 'IPv6';
  return {
    ...base,
    transport: 'stream',
    source: v1Address(fields[1]!, fields[3]!, family),
    destination: v1Address(fields[2]!, fields[4]!, family),
  };
}

function v1Address(host: string, port: string, family: 'IPv4' | 'IPv6'): InetAddress {
  if (isIP(host) !== (family === 'IPv4' ? 4 : 6)) {
    throw malformed(`version 1 address ${JSON.stringify(host)} is not ${family}`);
  }
  if (!/^(0|[1-9]\d{0,4})$/.test(port) || Number(port) > 65535) {
    throw malformed(`version 1 port ${JSON.stringify(port)} is not 0 to 65535`);
  }
  return { host, port: Number(port), family };
}

function parseV2(data: Buffer): ProxyParse | null {
  expectPrefix(data, V2_SIGNATURE, 'not the version 2 signature');
  if (data.length < V2_FIXED) return null;
  const versionCommand = data[12]!;
  if (versionCommand >> 4 !== 0x2)
    throw malformed(`version 2 header says version ${versionCommand >> 4}`);
  const command = versionCommand & 0x0f;
  if (command > 0x1)
    throw malformed(`version 2 command ${command} is neither LOCAL (0) nor PROXY (1)`);
  const familyByte = data[13]!;
  const family = familyByte >> 4;
  const transport = V2_TRANSPORT[familyByte & 0x0f];
  if (family > 0x3 || transport === undefined) {
    throw malformed(`version 2 family/transport byte 0x${familyByte.toString(16)} is not defined`);
  }
  const length = V2_FIXED + data.readUInt16BE(14);
  const addressLength = V2_ADDRESS_LENGTH[family] ?? 0;
  if (length - V2_FIXED < addressLength) {
    throw malformed(`version 2 length ${length - V2_FIXED} is shorter than its address block`);
  }
  if (data.length < length) return null;
  const areaStart = V2_FIXED + addressLength;
  const tlvs = areaStart === length ? NO_TLVS : decodeV2TLVs(data, areaStart, length);
  const relayed = command === 0x1 && family !== 0x0;
  const header: ProxyHeader = {
    version: 2,
    command: command === 0x1 ? 'proxy' : 'local',
    transport,
    source: relayed ? v2Address(data, family, 0) : null,
    destination: relayed ? v2Address(data, family, 1) : null,
    tlvs: tlvs.list,
  };
  return { header: tlvs === NO_TLVS ? header : Object.assign(header, tlvs.known), length };
}

/** The TLV list of every header without TLVs: one shared, frozen, empty list. */
const NO_TLV_LIST: readonly ProxyTLV[] = Object.freeze([]);
const NO_TLVS: DecodedTLVs = { list: NO_TLV_LIST as ProxyTLV[], known: {}, checksumAt: -1 };

/** The TLVs of a complete header (`data` up to `length`), checked against a CRC32C field. */
function decodeV2TLVs(data: Buffer, areaStart: number, length: number): DecodedTLVs {
  const header = data.subarray(0, length);
  const tlvs = decodeTLVs(header.subarray(areaStart), malformed);
  verifyChecksum(header, areaStart, tlvs, malformed);
  return tlvs;
}

/** The source (`which` 0) or destination (1) of a version 2 address block. */
function v2Address(header: Buffer, family: number, which: 0 | 1): Address {
  const at = V2_FIXED;
  if (family === 0x1) {
    return inet(ipv4(header, at + which * 4), header.readUInt16BE(at + 8 + which * 2), 'IPv4');
  }
  if (family === 0x2) {
    return inet(ipv6(header, at + which * 16), header.readUInt16BE(at + 32 + which * 2), 'IPv6');
  }
  return unixPath(header.subarray(at + which * 108, at + (which + 1) * 108));
}

function inet(host: string, port: number, family: InetAddress['family']): InetAddress {
  return { host, port, family };
}

function ipv4(data: Buffer, at: number): string {
  return `${data[at]}.${data[at + 1]}.${data[at + 2]}.${data[at + 3]}`;
}

/**
 * An IPv6 address as Node names peers (libuv's `inet_ntop`): RFC 5952 (the
 * longest run of two or more zero groups as `::`, lowercase hex), with an
 * IPv4-mapped or -compatible address ending in dotted decimal.
 */
export function ipv6(data: Buffer, at: number): string {
  const groups = Array.from({ length: 8 }, (_, i) => data.readUInt16BE(at + i * 2));
  const [start, run] = longestZeroRun(groups);
  if (start === 0 && (run === 6 || (run === 5 && groups[5] === 0xffff))) {
    return `::${run === 5 ? 'ffff:' : ''}${ipv4(data, at + 12)}`;
  }
  if (run < 2) return groups.map(hex).join(':');
  return `${groups.slice(0, start).map(hex).join(':')}::${groups
    .slice(start + run)
    .map(hex)
    .join(':')}`;
}

function hex(group: number): string {
  return group.toString(16);
}

/** The first longest run of zero groups: [start, length]. */
function longestZeroRun(groups: number[]): [number, number] {
  let best: [number, number] = [-1, 0];
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === 0) j++;
    if (j - i > best[1]) best = [i, j - i];
    i = j;
  }
  return best;
}

/** A NUL-padded `sun_path`: a path, or an abstract name (`'\0name'`) when it starts with NUL. */
function unixPath(field: Buffer): string {
  if (field[0] === 0) {
    let end = field.length;
    while (end > 1 && field[end - 1] === 0) end--;
    return field.toString('utf8', 0, end);
  }
  const nul = field.indexOf(0);
  return field.toString('utf8', 0, nul < 0 ? field.length : nul);
}

function expectPrefix(data: Buffer, prefix: Buffer, message: string): void {
  const n = Math.min(data.length, prefix.length);
  if (data.compare(prefix, 0, n, 0, n) !== 0) throw malformed(message);
}

function malformed(message: string): ProxyProtocolError {
  return new ProxyProtocolError('malformed', message);
}
