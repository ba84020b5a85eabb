/**
 * The pure head parser: the malformed heads the socket tests send
 * (malformed-requests.ts), through core's Reader as a socket's rfile would
 * deliver them, and well-formed heads.
 */
import { Reader } from '@socketserver/core';
import { describe, expect, it } from 'vitest';
import {
  CLOSED,
  HeadParser,
  isValidHost,
  MORE,
  type RequestHead,
  readRequestHead,
} from '../src/head-parser.js';
import { DEFAULT_HTTP_SETTINGS, HTTPError } from '../src/index.js';
import { BAD_HOSTS, GOOD_HOSTS, MALFORMED, REFUSED_AT_REQUEST_LINE } from './malformed-requests.js';

/** Parses `bytes` as one request head read from a connection that then ends. */
function parse(bytes: string | Buffer): Promise<RequestHead | null> {
  const data = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
  return readRequestHead(Reader.from(data), new HeadParser(DEFAULT_HTTP_SETTINGS));
}

async function statusOf(bytes: string): Promise<number> {
  try {
    await parse(bytes);
  } catch (error) {
    expect(error).toBeInstanceOf(HTTPError);
    return (error as HTTPError).status;
  }
  return 0;
}

describe('malformed heads: the same inputs as the socket tests', () => {
  it.each(MALFORMED.map((c) => [c.name, c.request, c.status] as const))(
    '%s: %#',
    async (_name, request, status) => {
      expect(await statusOf(request)).toBe(status);
    },
  );

  it.each(REFUSED_AT_REQUEST_LINE)('%s: refused by the request line itself', (_name, bytes) => {
    const parser = new HeadParser(DEFAULT_HTTP_SETTINGS);
    const line = Buffer.from(bytes.slice(0, bytes.indexOf('\n') + 1), 'latin1');
    expect(() => parser.feed(line)).toThrow(HTTPError);
    expect(parser.started).toBe(false);
  });
});

describe('well-formed heads', () => {
  it('parses the request line, fields (OWS trimmed, names as sent) and framing', async () => {
    const head = await parse(
      'POST /a?b=c HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\nX-Sp:  a b \t\r\nx-sp: 2\r\n\r\nhello',
    );
    expect(head).toMatchObject({
      requestline: 'POST /a?b=c HTTP/1.1',
      command: 'POST',
      path: '/a?b=c',
      requestVersion: 'HTTP/1.1',
      http11: true,
      contentLength: 5,
      chunked: false,
      keepAlive: true,
    });
    expect(head!.headers.get('x-sp')).toBe('a b, 2');
    expect([...head!.headers].map(([name]) => name)).toEqual([
      'Host',
      'Content-Length',
      'X-Sp',
      'x-sp',
    ]);
  });

  it('keep-alive per RFC 9112 §9.3: HTTP/1.1 unless close, HTTP/1.0 only when asked', async () => {
    expect((await parse('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'))!.keepAlive).toBe(
      false,
    );
    expect((await parse('GET / HTTP/1.0\r\n\r\n'))!.keepAlive).toBe(false);
    expect((await parse('GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n'))!.keepAlive).toBe(true);
    expect((await parse('GET / HTTP/1.2\r\nHost: x\r\n\r\n'))!.http11).toBe(true);
  });

  it('chunked when Transfer-Encoding ends with chunked', async () => {
    const head = await parse(
      'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n',
    );
    expect(head).toMatchObject({ chunked: true, contentLength: 0 });
  });

  it('skips up to four empty lines before the request line (RFC 9112 §2.2)', async () => {
    expect((await parse('\r\n\r\nGET / HTTP/1.0\r\n\r\n'))!.command).toBe('GET');
    expect(await statusOf('\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.0\r\n\r\n')).toBe(400);
  });

  it('limits: a request line of exactly maxRequestLine and exactly maxHeaders fields pass', async () => {
    const line = `GET /${'a'.repeat(8192 - 'GET / HTTP/1.1'.length)} HTTP/1.1`;
    expect(line.length).toBe(8192);
    expect((await parse(`${line}\r\nHost: x\r\n\r\n`))!.path.length).toBe(8192 - 13);
    const fields = `Host: x\r\n${'X-Foo: bar\r\n'.repeat(99)}`;
    expect((await parse(`GET / HTTP/1.1\r\n${fields}\r\n`))!.headers.size).toBe(100);
  });

  it('an end of stream before the head is complete is CLOSED, not an error', async () => {
    expect(await parse('')).toBeNull();
    expect(await parse('GET / HT')).toBeNull();
    expect(await parse('GET / HTTP/1.1\r\nHost: x\r\n')).toBeNull();
    const parser = new HeadParser(DEFAULT_HTTP_SETTINGS);
    expect(parser.feed(Buffer.from('GET / HTTP/1.1\r\n'))).toBe(MORE);
    expect(parser.feed(Buffer.alloc(0))).toBe(CLOSED);
  });

  it('the parser is reusable after reset', async () => {
    const parser = new HeadParser(DEFAULT_HTTP_SETTINGS);
    const rfile = Reader.from(
      Buffer.from('GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: y\r\n\r\n'),
    );
    const first = await readRequestHead(rfile, parser);
    const second = await readRequestHead(rfile, parser);
    expect([first!.path, first!.headers.get('host')]).toEqual(['/1', 'x']);
    expect([second!.path, second!.headers.get('host')]).toEqual(['/2', 'y']);
  });
});

describe('Host (RFC 9112 §3.2)', () => {
  it.each(BAD_HOSTS)('%j is invalid', (host) => {
    expect(isValidHost(host)).toBe(false);
  });

  it.each(GOOD_HOSTS)('%j is valid', (host) => {
    expect(isValidHost(host)).toBe(true);
  });
});
