/**
 * The HTTP layer, over raw sockets. Ports of CPython's test_httpservers.py
 * BaseHTTPServerTestCase and BaseHTTPRequestHandlerTestCase (adapted where
 * this server is deliberately stricter: HTTP/0.9 and bare LF are rejected),
 * plus RFC 9112 framing and smuggling cases.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { escapeLog, HTTPRequestHandler } from '../src/index.js';
import { RawClient, type Running, raw, start, statusOf, tempDir } from './helpers.js';

let run: Running;
const temp = tempDir();

beforeAll(async () => {
  writeFileSync(join(temp.dir, 'a.txt'), 'aaa');
  writeFileSync(join(temp.dir, 'c.txt'), 'ccc');
  run = await start({ directory: temp.dir });
});

afterAll(async () => {
  await run.stop();
  temp.cleanup();
});

const get = (line: string, fields = 'Host: x\r\n') => raw(run.port, `${line}\r\n${fields}\r\n`);

describe('request line and version (BaseHTTPServerTestCase)', () => {
  it('test_command: an unknown method gets 501 with Allow', async () => {
    const reply = (await get('XYZBOGUS / HTTP/1.1')).toString('latin1');
    expect(statusOf(Buffer.from(reply))).toBe(501);
    expect(reply).toMatch(/\r\nAllow: GET, HEAD\r\n/);
  });

  it('test_invalid_requests: methods are case sensitive', async () => {
    for (const method of ['FOO', 'custom', 'GETs', 'get', 'POST', 'OPTIONS']) {
      expect(statusOf(await get(`${method} / HTTP/1.1`))).toBe(501);
    }
  });

  it('test_request_line_trimming: a bare LF ends no line here (400)', async () => {
    expect(statusOf(await raw(run.port, 'XYZBOGUS / HTTP/1.1\n\r\n'))).toBe(400);
    expect(statusOf(await raw(run.port, 'GET / HTTP/1.1\nHost: x\n\n'))).toBe(400);
  });

  it.each([
    ['test_version_bogus', 'GET / FUBAR'],
    ['test_version_digits', 'GET / HTTP/9.9.9'],
    ['test_version_signs_and_underscores', 'GET / HTTP/-9_9_9.+9_9_9'],
    ['test_major_version_number_too_long', 'GET / HTTP/909876543210.0'],
    ['test_minor_version_number_too_long', 'GET / HTTP/1.909876543210'],
    ['lowercase version', 'GET / http/1.1'],
    ['test_version_none_get (trailing space, no version)', 'GET / '],
    ['test_version_none', 'CUSTOM /'],
    ['HTTP/0.9 request (no version)', 'GET /'],
    ['test_send_blank', '  '],
    ['test_extra_space', 'GET /spaced out HTTP/1.1'],
    ['double space', 'GET  / HTTP/1.1'],
    ['tab separator', 'GET\t/ HTTP/1.1'],
  ])('%s: 400', async (_name, line) => {
    const reply = await get(line);
    expect(statusOf(reply)).toBe(400);
    expect(reply.toString('latin1')).toMatch(/\r\nConnection: close\r\n/);
  });

  it('test_version_invalid: HTTP/9.9 and HTTP/0.9 get 505', async () => {
    expect(statusOf(await get('GET / HTTP/9.9'))).toBe(505);
    expect(statusOf(await get('GET / HTTP/0.9'))).toBe(505);
    expect(statusOf(await get('GET / HTTP/2.0'))).toBe(505);
  });

  it('test_http_1_1: status line, Server and Date', async () => {
    const client = await RawClient.connect(run.port);
    client.write('GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n');
    const response = await client.response();
    client.close();
    expect(response.raw.startsWith('HTTP/1.1 200 OK\r\n')).toBe(true);
    expect(response.headers.server).toMatch(/^socketserver-http\/\d/);
    expect(response.headers.date).toMatch(/^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
    expect(response.body.toString()).toBe('aaa');
  });

  it('test_http_1_0: answered, then closed', async () => {
    const reply = (await raw(run.port, 'GET /a.txt HTTP/1.0\r\n\r\n')).toString('latin1');
    expect(reply.startsWith('HTTP/1.1 200 OK\r\n')).toBe(true);
    expect(reply).toMatch(/\r\nConnection: close\r\n/);
    expect(reply.endsWith('\r\n\r\naaa')).toBe(true);
  });

  it('HTTP/1.1 minor versions above 1 are served as 1.1', async () => {
    expect(statusOf(await get('GET /a.txt HTTP/1.2', 'Host: x\r\nConnection: close\r\n'))).toBe(
      200,
    );
  });

  it('test_header_close: Connection: close closes after the response', async () => {
    const reply = (await get('GET /a.txt HTTP/1.1', 'Host: x\r\nConnection: close\r\n')).toString(
      'latin1',
    );
    expect(statusOf(Buffer.from(reply))).toBe(200);
    expect(reply).toMatch(/\r\nConnection: close\r\n/);
  });

  it('test_header_keep_alive: HTTP/1.0 with Connection: keep-alive stays open', async () => {
    const client = await RawClient.connect(run.port);
    client.write('GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
    const first = await client.response();
    expect(first.headers.connection).toBe('keep-alive');
    client.write('GET /c.txt HTTP/1.0\r\n\r\n');
    const second = await client.response();
    expect(second.body.toString()).toBe('ccc');
    await client.waitClosed();
  });

  it('ignores empty lines before the request line (RFC 9112 §2.2)', async () => {
    expect(statusOf(await raw(run.port, '\r\nGET /a.txt HTTP/1.0\r\n\r\n'))).toBe(200);
  });
});

describe('BaseHTTPRequestHandlerTestCase', () => {
  it('test_with_continue_1_0: no interim response', async () => {
    const reply = (
      await raw(run.port, 'GET /a.txt HTTP/1.0\r\nExpect: 100-continue\r\n\r\n')
    ).toString('latin1');
    expect(reply.startsWith('HTTP/1.1 200 OK\r\n')).toBe(true);
  });

  it('test_with_continue_1_1: 100 Continue, then the response', async () => {
    const reply = (
      await get('GET /a.txt HTTP/1.1', 'Host: x\r\nExpect: 100-continue\r\nConnection: close\r\n')
    ).toString('latin1');
    expect(reply.startsWith('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n')).toBe(true);
  });

  it('100-continue with a body: the body is invited, read and dropped', async () => {
    const client = await RawClient.connect(run.port);
    client.write(
      'GET /a.txt HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n',
    );
    expect((await client.response()).status).toBe(100);
    client.write('hello');
    expect((await client.response()).body.toString()).toBe('aaa');
    client.write('GET /c.txt HTTP/1.1\r\nHost: x\r\n\r\n');
    expect((await client.response()).body.toString()).toBe('ccc');
    client.close();
  });

  it('test_with_continue_rejected: another expectation gets 417 and a close', async () => {
    const reply = (await get('GET / HTTP/1.1', 'Host: x\r\nExpect: something\r\n')).toString(
      'latin1',
    );
    expect(reply.startsWith('HTTP/1.1 417 Expectation Failed\r\n')).toBe(true);
    expect(reply.match(/\r\nConnection: close\r\n/g)).toHaveLength(1);
  });

  it('test_request_length: a request line over 8 KiB gets 414', async () => {
    expect(statusOf(await raw(run.port, `GET ${'x'.repeat(65537)}`))).toBe(414);
    const limit = `GET /${'a'.repeat(8192 - 'GET / HTTP/1.1'.length)} HTTP/1.1`;
    expect(limit.length).toBe(8192);
    expect(statusOf(await get(limit, 'Host: x\r\nConnection: close\r\n'))).toBe(404);
    expect(statusOf(await get(`${limit}x`))).toBe(414);
  });

  it('test_header_length: a header section over 64 KiB gets 431', async () => {
    const reply = await raw(run.port, `GET / HTTP/1.1\r\nX-Foo: bar${'r'.repeat(65537)}\r\n\r\n`);
    expect(statusOf(reply)).toBe(431);
    // Many fields, each small, over the total budget.
    const fields = Array.from({ length: 70 }, (_, i) => `X-${i}: ${'v'.repeat(1000)}\r\n`).join('');
    expect(statusOf(await get('GET / HTTP/1.1', `Host: x\r\n${fields}`))).toBe(431);
  });

  it('test_too_many_headers: more than 100 fields get 431, 100 are fine', async () => {
    expect(
      statusOf(await get('GET / HTTP/1.1', `Host: x\r\n${'X-Foo: bar\r\n'.repeat(100)}`)),
    ).toBe(431);
    expect(
      statusOf(
        await get(
          'GET /a.txt HTTP/1.1',
          `Host: x\r\nConnection: close\r\n${'X-Foo: bar\r\n'.repeat(98)}`,
        ),
      ),
    ).toBe(200);
  });

  it('test_html_escape_on_error: the error page escapes what the client sent', async () => {
    const reply = (
      await raw(run.port, '<script>alert("hello")</script> / HTTP/1.1\r\nHost: x\r\n\r\n')
    ).toString();
    expect(statusOf(Buffer.from(reply))).toBe(400);
    expect(reply).not.toContain('<script>');
    expect(reply).toContain('&lt;script&gt;alert(&quot;hello&quot;)&lt;/script&gt;');
  });

  it('test_unprintable_not_logged: log lines escape control characters', () => {
    expect(escapeLog('/foo')).toBe('/foo');
    expect(escapeLog('/\x1bbar\x00\x1b')).toBe('/\\x1bbar\\x00\\x1b');
    expect(escapeLog('/spam \x1b\x7f\x9f\xa0beans.')).toBe('/spam \\x1b\\x7f\\x9f\xa0beans.');
    expect(escapeLog('"GET /foo\\b"ar\x07 HTTP/1.0"')).toBe('"GET /foo\\\\b"ar\\x07 HTTP/1.0"');
    expect(escapeLog('a\r\nforged line')).toBe('a\\x0d\\x0aforged line');
  });

  it('HEAD of an error has no body', async () => {
    const reply = (
      await get('HEAD /missing HTTP/1.1', 'Host: x\r\nConnection: close\r\n')
    ).toString();
    expect(statusOf(Buffer.from(reply))).toBe(404);
    expect(reply.endsWith('\r\n\r\n')).toBe(true);
    expect(reply).toMatch(/\r\nContent-Length: \d+\r\n/);
  });
});

describe('header section (RFC 9112)', () => {
  it.each([
    ['bare CR in a field', 'GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r2\r\n\r\n'],
    ['bare CR as a line end', 'GET / HTTP/1.1\r\nHost: x\rX-A: 1\r\n\r\n'],
    ['NUL in a value', 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n'],
    ['obs-fold', 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n'],
    ['space before the colon', 'GET / HTTP/1.1\r\nHost: x\r\nX-A : a\r\n\r\n'],
    ['no colon', 'GET / HTTP/1.1\r\nHost: x\r\nX-A\r\n\r\n'],
    ['empty name', 'GET / HTTP/1.1\r\nHost: x\r\n: a\r\n\r\n'],
    ['no Host in HTTP/1.1', 'GET / HTTP/1.1\r\n\r\n'],
    ['two Host fields', 'GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n'],
    [
      'Content-Length with Transfer-Encoding',
      'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    ],
    [
      'duplicate Content-Length',
      'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc',
    ],
    ['listed Content-Length', 'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc'],
    ['negative Content-Length', 'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n'],
    ['signed Content-Length', 'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc'],
    ['hex Content-Length', 'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x3\r\n\r\nabc'],
    [
      'huge Content-Length',
      `GET / HTTP/1.1\r\nHost: x\r\nContent-Length: ${'9'.repeat(30)}\r\n\r\n`,
    ],
    [
      'Transfer-Encoding not ending in chunked',
      'GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n',
    ],
    [
      'Transfer-Encoding in HTTP/1.0',
      'GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    ],
    ['control byte in the target', 'GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n'],
  ])('%s: 400 and the connection closes', async (_name, request) => {
    const reply = await raw(run.port, request);
    expect(statusOf(reply)).toBe(400);
    expect(reply.toString('latin1')).toMatch(/\r\nConnection: close\r\n/);
  });
});

describe('request bodies and smuggling', () => {
  it('a GET body is read and dropped, never taken as the next request', async () => {
    const client = await RawClient.connect(run.port);
    const smuggled = 'GET /c.txt HTTP/1.1\r\nHost: x\r\n\r\n';
    client.write(
      `GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`,
    );
    client.write('GET /missing HTTP/1.1\r\nHost: x\r\n\r\n');
    const first = await client.response();
    const second = await client.response();
    expect(first.body.toString()).toBe('aaa');
    expect(second.status).toBe(404);
    client.close();
  });

  it('a chunked GET body closes the connection after the response', async () => {
    const smuggled = 'GET /c.txt HTTP/1.1\r\nHost: x\r\n\r\n';
    const body = `${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`;
    const reply = (
      await raw(
        run.port,
        `GET /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${body}`,
      )
    ).toString('latin1');
    expect(reply.match(/HTTP\/1\.1 /g)).toHaveLength(1);
    expect(reply).toMatch(/\r\nConnection: close\r\n/);
    expect(reply.endsWith('aaa')).toBe(true);
  });

  it('a body larger than the drain limit closes the connection', async () => {
    const reply = (
      await raw(
        run.port,
        `GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nGET /c.txt HTTP/1.1\r\n`,
      )
    ).toString('latin1');
    expect(reply.match(/HTTP\/1\.1 /g)).toHaveLength(1);
    expect(reply).toMatch(/\r\nConnection: close\r\n/);
  });

  it('an unsupported method with a body gets 501 and a close', async () => {
    const reply = (
      await raw(run.port, 'POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello')
    ).toString('latin1');
    expect(statusOf(Buffer.from(reply))).toBe(501);
    expect(reply).toMatch(/\r\nConnection: close\r\n/);
  });

  it('pipelined requests are answered in order', async () => {
    const client = await RawClient.connect(run.port);
    client.write(
      'GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\nHEAD /c.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /c.txt HTTP/1.1\r\nHost: x\r\n\r\n',
    );
    expect((await client.response()).body.toString()).toBe('aaa');
    const head = await client.response(true);
    expect(head.headers['content-length']).toBe('3');
    expect((await client.response()).body.toString()).toBe('ccc');
    client.close();
  });
});

describe('subclassing HTTPRequestHandler', () => {
  it('doPOST with readBody; an HTTPError from a do-method becomes its status', async () => {
    class Echo extends HTTPRequestHandler {
      async doPOST(): Promise<void> {
        const body = await this.readBody(10);
        this.sendResponse(200);
        this.sendHeader('Content-Length', body.length);
        await this.endHeaders(body);
      }
    }
    const echo = await start({ directory: temp.dir, RequestHandlerClass: Echo });
    try {
      const client = await RawClient.connect(echo.port);
      client.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello');
      expect((await client.response()).body.toString()).toBe('hello');
      client.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world');
      expect((await client.response()).status).toBe(413);
      await client.waitClosed();
      const reply = await raw(echo.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      expect(reply.toString('latin1')).toMatch(/^HTTP\/1\.1 501 [\s\S]*\r\nAllow: POST\r\n/);
    } finally {
      await echo.stop();
    }
  });
});
