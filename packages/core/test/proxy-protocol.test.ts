/**
 * The PROXY protocol parser: versions 1 and 2, TLVs, the CRC32C check,
 * incomplete input (null until complete) and malformed input (thrown at once).
 */
import { randomBytes } from 'node:crypto';
import { SocketAddress } from 'node:net';
import { describe, expect, test } from 'vitest';
import { ipv6, ProxyProtocolError, parseProxyHeader } from '../src/proxy-protocol.js';
import { crc32c } from '../src/proxy-tlv.js';
import { ipBytes, SIGNATURE, tlv, v2 } from './proxy-headers.js';

function malformed(data: Buffer | string, message: RegExp): void {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
  let error: unknown;
  try {
    parseProxyHeader(bytes);
  } catch (caught) {
    error = caught;
  }
  expect(error).toBeInstanceOf(ProxyProtocolError);
  expect((error as ProxyProtocolError).code).toBe('ERR_SOCKETSERVER_PROXY_PROTOCOL');
  expect((error as ProxyProtocolError).reason).toBe('malformed');
  expect((error as Error).message).toMatch(message);
}

/** Every strict prefix of a complete header parses as "not yet". */
function incompleteUntilLastByte(header: Buffer): void {
  for (let n = 0; n < header.length; n++) {
    expect(parseProxyHeader(header.subarray(0, n)), `prefix of ${n} bytes`).toBeNull();
  }
}

describe('version 1', () => {
  test('TCP4: source, destination, and where the data starts', () => {
    const line = 'PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n';
    const parsed = parseProxyHeader(Buffer.from(`${line}GET / HTTP/1.1\r\n`));
    expect(parsed).toEqual({
      length: line.length,
      header: {
        version: 1,
        command: 'proxy',
        transport: 'stream',
        source: { host: '192.0.2.7', port: 56324, family: 'IPv4' },
        destination: { host: '198.51.100.1', port: 443, family: 'IPv4' },
        tlvs: [],
      },
    });
    incompleteUntilLastByte(Buffer.from(line));
  });

  test('TCP6', () => {
    const parsed = parseProxyHeader(Buffer.from('PROXY TCP6 2001:db8::7 ::1 65535 0\r\n'));
    expect(parsed?.header.source).toEqual({ host: '2001:db8::7', port: 65535, family: 'IPv6' });
    expect(parsed?.header.destination).toEqual({ host: '::1', port: 0, family: 'IPv6' });
  });

  test('UNKNOWN names no client, with or without addresses after it', () => {
    for (const line of ['PROXY UNKNOWN\r\n', 'PROXY UNKNOWN ffff::1 ::1 1 2\r\n']) {
      const parsed = parseProxyHeader(Buffer.from(line));
      expect(parsed?.length).toBe(line.length);
      expect(parsed?.header).toMatchObject({ version: 1, source: null, destination: null });
    }
  });

  test('the longest allowed line (107 bytes with CRLF) parses; 108 does not', () => {
    const longest =
      'PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n';
    expect(longest.length).toBe(104);
    const unknown = `PROXY UNKNOWN ${'x'.repeat(107 - 16)}\r\n`;
    expect(unknown.length).toBe(107);
    expect(parseProxyHeader(Buffer.from(unknown))?.length).toBe(107);
    malformed(`PROXY UNKNOWN ${'x'.repeat(108 - 16)}\r\n`, /longer than 107/);
    malformed(`PROXY UNKNOWN ${'x'.repeat(200)}`, /longer than 107/);
  });

  test.each([
    ['GET / HTTP/1.1\r\n', /does not start with a PROXY header/],
    ['PROXZ TCP4', /must start with "PROXY "/],
    ['PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n', /not "TCP4\|TCP6/],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n', /not "TCP4\|TCP6/],
    ['PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n', /not "TCP4\|TCP6/],
    ['PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n', /is not IPv4/],
    ['PROXY TCP4 ::1 5.6.7.8 1 2\r\n', /is not IPv4/],
    ['PROXY TCP6 1.2.3.4 ::1 1 2\r\n', /is not IPv6/],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n', /port "65536"/],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n', /port "080"/],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 1 -2\r\n', /port "-2"/],
  ])('malformed: %j', (line, message) => malformed(line, message));

  test('a wrong first byte is refused at once, before a whole line', () => {
    malformed('\x16\x03\x01', /does not start with a PROXY header/);
    malformed('PX', /must start with "PROXY "/);
  });
});

describe('version 2', () => {
  test('PROXY over IPv4, and where the data starts', () => {
    const header = v2({ source: ['192.0.2.7', 56324], destination: ['198.51.100.1', 443] });
    expect(header.length).toBe(28);
    const parsed = parseProxyHeader(Buffer.concat([header, Buffer.from('hello')]));
    expect(parsed).toEqual({
      length: 28,
      header: {
        version: 2,
        command: 'proxy',
        transport: 'stream',
        source: { host: '192.0.2.7', port: 56324, family: 'IPv4' },
        destination: { host: '198.51.100.1', port: 443, family: 'IPv4' },
        tlvs: [],
      },
    });
    incompleteUntilLastByte(header);
  });

  test('IPv6, written as Node writes peer addresses', () => {
    const header = v2({
      family: 'inet6',
      source: ['2001:db8:0:0:1:0:0:1', 1],
      destination: ['::ffff:127.0.0.5', 2],
    });
    const parsed = parseProxyHeader(header)!;
    expect(parsed.length).toBe(52);
    expect(parsed.header.source).toEqual({ host: '2001:db8::1:0:0:1', port: 1, family: 'IPv6' });
    expect(parsed.header.destination).toEqual({
      host: '::ffff:127.0.0.5',
      port: 2,
      family: 'IPv6',
    });
  });

  test('IPv6 formatting matches node:net for random and edge addresses', () => {
    const samples = [
      Buffer.alloc(16),
      Buffer.from('00000000000000000000000000000001', 'hex'),
      Buffer.from('00010000000000000000000000000000', 'hex'),
      Buffer.from('fe800000000000000000000000000000', 'hex'),
      Buffer.from('20010db8000000010000000000000001', 'hex'),
      Buffer.from('00000000000000000000ffff7f000001', 'hex'),
      Buffer.from('0000000000000000000000007f000001', 'hex'),
      Buffer.from('20010db8000100010001000100010001', 'hex'),
      ...Array.from({ length: 200 }, (_, i) => {
        const bytes = randomBytes(16);
        // Runs of zero groups, so compression is exercised.
        for (let g = i % 8; g < 8 && g < (i % 8) + (i % 5); g++) bytes.writeUInt16BE(0, g * 2);
        return bytes;
      }),
    ];
    for (const bytes of samples) {
      const expected = new SocketAddress({ address: ipv6(bytes, 0), family: 'ipv6' }).address;
      expect(ipv6(bytes, 0), bytes.toString('hex')).toBe(expected);
      // The text names the same bytes (read back by the tests' own encoder).
      expect(ipBytes(expected).toString('hex')).toBe(bytes.toString('hex'));
    }
  });

  test('Unix addresses: paths, and abstract names', () => {
    const paths = parseProxyHeader(
      v2({ family: 'unix', source: '/run/client.sock', destination: '/run/haproxy.sock' }),
    )!;
    expect(paths.length).toBe(16 + 216);
    expect(paths.header.source).toBe('/run/client.sock');
    expect(paths.header.destination).toBe('/run/haproxy.sock');
    const abstract = parseProxyHeader(
      v2({ family: 'unix', source: '\0abstract', destination: '' }),
    )!;
    expect(abstract.header.source).toBe('\0abstract');
  });

  test('LOCAL: the real endpoints stand, whatever address block is sent', () => {
    for (const family of ['unspec', 'inet', 'inet6', 'unix'] as const) {
      const header = v2({ command: 'local', family, transport: 'unspec' });
      expect(parseProxyHeader(header)).toEqual({
        length: header.length,
        header: {
          version: 2,
          command: 'local',
          transport: 'unspec',
          source: null,
          destination: null,
          tlvs: [],
        },
      });
    }
  });

  test('PROXY with an unspecified family names no client', () => {
    expect(parseProxyHeader(v2({ family: 'unspec' }))?.header.source).toBeNull();
  });

  test('datagram transport is reported as such', () => {
    expect(parseProxyHeader(v2({ transport: 'dgram' }))?.header.transport).toBe('dgram');
  });

  test('TLVs: the list in order, the well-known ones decoded', () => {
    const ssl = Buffer.concat([
      Buffer.from([0x07, 0, 0, 0, 0]),
      tlv({ type: 0x21, value: 'TLSv1.3' }),
      tlv({ type: 0x22, value: 'client.example' }),
      tlv({ type: 0x23, value: 'TLS_AES_256_GCM_SHA384' }),
      tlv({ type: 0x24, value: 'RSA-SHA256' }),
      tlv({ type: 0x25, value: 'RSA2048' }),
    ]);
    const header = v2({
      tlvs: [
        { type: 0x01, value: 'h2' },
        { type: 0x02, value: 'example.com' },
        { type: 0x04, value: Buffer.alloc(3) },
        { type: 0x05, value: Buffer.from('abc123') },
        { type: 0x20, value: ssl },
        { type: 0x30, value: 'blue' },
        { type: 0xe1, value: Buffer.from([1, 2, 3]) },
      ],
    });
    const parsed = parseProxyHeader(header)!;
    expect(parsed.length).toBe(header.length);
    const { tlvs, ...known } = parsed.header;
    expect(tlvs.map((t) => [t.type, t.value.toString('hex')])).toEqual([
      [0x01, Buffer.from('h2').toString('hex')],
      [0x02, Buffer.from('example.com').toString('hex')],
      [0x04, '000000'],
      [0x05, Buffer.from('abc123').toString('hex')],
      [0x20, ssl.toString('hex')],
      [0x30, Buffer.from('blue').toString('hex')],
      [0xe1, '010203'],
    ]);
    expect(known).toMatchObject({
      alpn: 'h2',
      authority: 'example.com',
      uniqueId: Buffer.from('abc123'),
      netns: 'blue',
      ssl: {
        ssl: true,
        certConnection: true,
        certSession: true,
        verify: 0,
        version: 'TLSv1.3',
        cn: 'client.example',
        cipher: 'TLS_AES_256_GCM_SHA384',
        sigAlg: 'RSA-SHA256',
        keyAlg: 'RSA2048',
      },
    });
    incompleteUntilLastByte(header);
  });

  test('CRC32C: the known check value, a matching field accepted, a wrong one refused', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    const zeroed = v2({
      tlvs: [
        { type: 0x01, value: 'h2' },
        { type: 0x03, value: Buffer.alloc(4) },
      ],
    });
    const sum = crc32c(zeroed);
    const good = Buffer.from(zeroed);
    good.writeUInt32BE(sum, good.length - 4);
    expect(parseProxyHeader(good)?.header.alpn).toBe('h2');
    const bad = Buffer.from(good);
    bad.writeUInt32BE((sum ^ 1) >>> 0, bad.length - 4);
    malformed(bad, /CRC32C checksum does not match/);
    malformed(
      v2({ tlvs: [{ type: 0x03, value: Buffer.alloc(3) }] }),
      /CRC32C field is not 4 bytes/,
    );
  });

  test.each([
    ['a wrong signature byte', Buffer.from([0x0d, 0x0a, 0x0d, 0x0b]), /version 2 signature/],
    ['version 1 in the version nibble', patch(v2(), 12, 0x11), /says version 1/],
    ['command 2', patch(v2(), 12, 0x22), /command 2/],
    ['family 4', patch(v2(), 13, 0x41), /not defined/],
    ['transport 3', patch(v2(), 13, 0x13), /not defined/],
    ['a length shorter than the IPv4 block', shortLength(), /shorter than its address block/],
    ['a TLV cut short', v2({ padding: Buffer.from([0x01, 0x00]) }), /cut short/],
    [
      'a TLV past the end',
      v2({ padding: Buffer.from([0x01, 0x00, 0x05, 0x61]) }),
      /runs past the header/,
    ],
    [
      'an SSL TLV under 5 bytes',
      v2({ tlvs: [{ type: 0x20, value: Buffer.alloc(4) }] }),
      /SSL field/,
    ],
  ])('malformed: %s', (_name, header, message) => malformed(header, message));

  test('a long header (all 65535 bytes of TLVs) is complete only at its last byte', () => {
    const big = v2({ tlvs: [{ type: 0xee, value: Buffer.alloc(65535 - 12 - 3) }] });
    expect(big.length).toBe(16 + 65535);
    expect(parseProxyHeader(big.subarray(0, big.length - 1))).toBeNull();
    expect(parseProxyHeader(big)?.length).toBe(big.length);
  });

  test('the signature alone, byte by byte, is not yet an answer', () => {
    incompleteUntilLastByte(
      Buffer.concat([SIGNATURE, Buffer.from([0x21, 0x11, 0, 12]), Buffer.alloc(12)]),
    );
  });
});

function patch(header: Buffer, at: number, value: number): Buffer {
  const copy = Buffer.from(header);
  copy[at] = value;
  return copy;
}

function shortLength(): Buffer {
  const header = v2();
  header.writeUInt16BE(11, 14);
  return header;
}
