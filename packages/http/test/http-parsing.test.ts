/**
 * The HTTP layer, over raw sockets. Ports of CPython's test_httpservers.py
 * BaseHTTPServerTestCase and BaseHTTPRequestHandlerTestCase (adapted where
 * this server is deliberately stricter: HTTP/0.9 and bare LF are rejected),
 * plus RFC 9112 framing and smuggling cases.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { escapeLog } from '../src/escape.js';
import { BaseHTTPRequestHandler, HTTPError } from '../src/index.js';
import { RawClient, type Running, raw, start, statusOf, tempDir } from './helpers.js';
import {
  BAD_HEADER_SECTIONS,
  BAD_HOSTS,
  BAD_REQUEST_LINES,
  GOOD_HOSTS,
  MALFORMED,
  MARKUP_REQUEST,
  REFUSED_AT_REQUEST_LINE,
  UNSUPPORTED_VERSIONS,
} from './malformed-requests.js';

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

  it.each(REFUSED_AT_REQUEST_LINE)(
    '%s: 400 at once, not after the head timeout (hole 3)',
    async (_name, bytes) => {
      // The client sends nothing more; the head timeout is 10 s.
      const reply = await raw(run.port, bytes, 3000);
      expect(statusOf(reply)).toBe(400);
      expect(reply.toString('latin1')).toMatch(/\r\nConnection: close\r\n/);
    },
  );

  it.each(BAD_REQUEST_LINES)('%s: 400', async (_name, line) => {
    const reply = await get(line);
    expect(statusOf(reply)).toBe(400);
    expect(reply.toString('latin1')).toMatch(/\r\nConnection: close\r\n/);
  });

  it('test_version_invalid: HTTP/9.9 and HTTP/0.9 get 505', async () => {
    for (const line of UNSUPPORTED_VERSIONS) expect(statusOf(await get(line))).toBe(505);
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

  it('test_with_continue_1_1: no body to invite, no 100 (RFC 9110 §10.1.1), the response', async () => {
    // Python sends 100 for every HTTP/1.1 Expect; here it is sent when the body is wanted.
    const reply = (
      await get('GET /a.txt HTTP/1.1', 'Host: x\r\nExpect: 100-continue\r\nConnection: close\r\n')
    ).toString('latin1');
    expect(reply.startsWith('HTTP/1.1 200 OK\r\n')).toBe(true);
  });

  it('100-continue with a body the handler does not want: no 100, the response, then a close', async () => {
    // The body was never invited: the client may or may not send it, so it cannot be drained.
    const client = await RawClient.connect(run.port);
    client.write(
      'GET /a.txt HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n',
    );
    const response = await client.response();
    expect(response.status).toBe(200);
    expect(response.body.toString()).toBe('aaa');
    expect(response.headers.connection).toBe('close');
    await client.waitClosed();
  });

  it('no 100 Continue before the 400 for a bad target (hole 7)', async () => {
    const reply = (
      await raw(
        run.port,
        'GET /%zz HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n',
      )
    ).toString('latin1');
    expect(reply.startsWith('HTTP/1.1 400 Bad Request\r\n')).toBe(true);
    expect(reply).not.toContain('100 Continue');
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
    const reply = (await raw(run.port, MARKUP_REQUEST)).toString();
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
  it.each(BAD_HEADER_SECTIONS)('%s: 400 and the connection closes', async (_name, request) => {
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

describe('subclassing BaseHTTPRequestHandler', () => {
  class Echo extends BaseHTTPRequestHandler {
    async doPOST(): Promise<void> {
      const body = await this.readBody(10);
      this.sendResponse(200);
      this.sendHeader('Content-Length', body.length);
      await this.endHeaders(body);
    }
  }

  it('doPOST with readBody; an HTTPError from a do-method becomes its status', async () => {
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

  it('100-continue with a body the handler reads: 100, then the response, the connection kept', async () => {
    const echo = await start({ RequestHandlerClass: Echo });
    try {
      const client = await RawClient.connect(echo.port);
      client.write(
        'POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n',
      );
      expect((await client.response()).status).toBe(100);
      client.write('hello');
      expect((await client.response()).body.toString()).toBe('hello');
      client.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi');
      expect((await client.response()).body.toString()).toBe('hi');
      client.close();
    } finally {
      await echo.stop();
    }
  });

  it('a handler that refuses before reading the body sends no 100 (hole 7)', async () => {
    class Refuse extends BaseHTTPRequestHandler {
      doPUT(): void {
        throw new HTTPError(403, 'No uploads here');
      }
    }
    const refuse = await start({ RequestHandlerClass: Refuse });
    try {
      const reply = (
        await raw(
          refuse.port,
          'PUT /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n',
        )
      ).toString('latin1');
      expect(reply.startsWith('HTTP/1.1 403 Forbidden\r\n')).toBe(true);
      expect(reply).toMatch(/\r\nConnection: close\r\n/);
      expect(reply).toContain('No uploads here');
    } finally {
      await refuse.stop();
    }
  });

  it('a body shorter than its Content-Length, then end of stream: 400, the connection closed', async () => {
    const echo = await start({ RequestHandlerClass: Echo });
    try {
      const request = 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc';
      const reply = await raw(echo.port, request, 8000, { end: true });
      expect(statusOf(reply)).toBe(400);
    } finally {
      await echo.stop();
    }
  });
});

describe('Host (RFC 9112 §3.2, hole 7)', () => {
  it.each(BAD_HOSTS)('Host: %j gets 400 and a close', async (host) => {
    const reply = await get('GET /a.txt HTTP/1.1', `Host: ${host}\r\n`);
    expect(statusOf(reply)).toBe(400);
    expect(reply.toString('latin1')).toMatch(/\r\nConnection: close\r\n/);
  });

  it('valid Host values are served', async () => {
    for (const host of GOOD_HOSTS) {
      const reply = await get('GET /a.txt HTTP/1.1', `Host: ${host}\r\nConnection: close\r\n`);
      expect(statusOf(reply), host).toBe(200);
    }
  });
});

describe('every malformed head of the parser tests, over a socket', () => {
  it('gets its status and a close', async () => {
    for (const { name, request, status } of MALFORMED) {
      const reply = await raw(run.port, request);
      expect(statusOf(reply), name).toBe(status);
      expect(reply.toString('latin1'), name).toMatch(/\r\nConnection: close\r\n/);
    }
  });
});
