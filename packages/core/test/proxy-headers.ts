/**
 * PROXY protocol version 2 headers built byte by byte from the
 * specification's layout, for the tests (independently of the parser).
 */
import { isIP } from 'node:net';

/** A TLV to put in a header. */
export interface TLVInput {
  type: number;
  value: Buffer | string;
}

/** What to build. */
export interface V2Input {
  command?: 'local' | 'proxy';
  family?: 'unspec' | 'inet' | 'inet6' | 'unix';
  transport?: 'unspec' | 'stream' | 'dgram';
  source?: [string, number] | string;
  destination?: [string, number] | string;
  tlvs?: TLVInput[];
  /** Extra bytes declared in the length but not TLVs (to test malformed input). */
  padding?: Buffer;
}

export const SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

/** A version 2 header. */
export function v2(input: V2Input = {}): Buffer {
  const family = input.family ?? 'inet';
  const command = input.command === 'local' ? 0x20 : 0x21;
  const familyNibble = { unspec: 0, inet: 1, inet6: 2, unix: 3 }[family];
  const transportNibble = { unspec: 0, stream: 1, dgram: 2 }[input.transport ?? 'stream'];
  const addresses = addressBlock(family, input.source, input.destination);
  const tlvs = Buffer.concat((input.tlvs ?? []).map(tlv));
  const rest = Buffer.concat([addresses, tlvs, input.padding ?? Buffer.alloc(0)]);
  const fixed = Buffer.alloc(4);
  fixed[0] = command;
  fixed[1] = (familyNibble << 4) | transportNibble;
  fixed.writeUInt16BE(rest.length, 2);
  return Buffer.concat([SIGNATURE, fixed, rest]);
}

/** One TLV's bytes. */
export function tlv(input: TLVInput): Buffer {
  const value = Buffer.isBuffer(input.value) ? input.value : Buffer.from(input.value);
  const head = Buffer.alloc(3);
  head[0] = input.type;
  head.writeUInt16BE(value.length, 1);
  return Buffer.concat([head, value]);
}

function addressBlock(
  family: NonNullable<V2Input['family']>,
  source: V2Input['source'],
  destination: V2Input['destination'],
): Buffer {
  if (family === 'unspec') return Buffer.alloc(0);
  if (family === 'unix') {
    const block = Buffer.alloc(216);
    block.write(String(source ?? ''), 0, 'utf8');
    block.write(String(destination ?? ''), 108, 'utf8');
    return block;
  }
  const [srcHost, srcPort] = (source ?? (family === 'inet' ? ['0.0.0.0', 0] : ['::', 0])) as [
    string,
    number,
  ];
  const [dstHost, dstPort] = (destination ?? (family === 'inet' ? ['0.0.0.0', 0] : ['::', 0])) as [
    string,
    number,
  ];
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(srcPort, 0);
  ports.writeUInt16BE(dstPort, 2);
  return Buffer.concat([ipBytes(srcHost), ipBytes(dstHost), ports]);
}

/** An IP address's bytes (4 or 16). */
export function ipBytes(host: string): Buffer {
  if (isIP(host) === 4) return Buffer.from(host.split('.').map(Number));
  const [head = '', tail = ''] = host.includes('::') ? host.split('::') : [host, ''];
  const groups = (part: string) => (part === '' ? [] : part.split(':'));
  let left = groups(head);
  let right = groups(tail);
  const expand = (list: string[]) =>
    list.flatMap((group) => {
      if (!group.includes('.')) return [group];
      const [a, b, c, d] = group.split('.').map(Number) as [number, number, number, number];
      return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
    });
  left = expand(left);
  right = expand(right);
  const zeros = host.includes('::') ? 8 - left.length - right.length : 0;
  const all = [...left, ...Array(zeros).fill('0'), ...right];
  const out = Buffer.alloc(16);
  for (const [i, group] of all.entries()) out.writeUInt16BE(Number.parseInt(group, 16), i * 2);
  return out;
}
