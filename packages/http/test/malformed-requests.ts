/**
 * Malformed request heads and the status each gets: one table, fed both to
 * the pure head parser (head-parser.test.ts) and to a server over sockets
 * (http-parsing.test.ts).
 */

/** Request lines refused with 400 (each sent with `Host: x` and a blank line). */
export const BAD_REQUEST_LINES: ReadonlyArray<readonly [name: string, line: string]> = [
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
];

/** Versions other than 1.x: 505. */
export const UNSUPPORTED_VERSIONS: readonly string[] = [
  'GET / HTTP/9.9',
  'GET / HTTP/0.9',
  'GET / HTTP/2.0',
];

/** Whole requests whose header section is refused with 400. */
export const BAD_HEADER_SECTIONS: ReadonlyArray<readonly [name: string, request: string]> = [
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
  ['huge Content-Length', `GET / HTTP/1.1\r\nHost: x\r\nContent-Length: ${'9'.repeat(30)}\r\n\r\n`],
  [
    'Transfer-Encoding not ending in chunked',
    'GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n',
  ],
  [
    'Transfer-Encoding in HTTP/1.0',
    'GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  ],
  ['control byte in the target', 'GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n'],
];

/** test_html_escape_on_error: markup where the method goes (400, escaped in the error page). */
export const MARKUP_REQUEST = '<script>alert("hello")</script> / HTTP/1.1\r\nHost: x\r\n\r\n';

/** `Host` values RFC 9112 §3.2 makes a 400 (`uri-host [ ":" port ]` of RFC 3986). */
export const BAD_HOSTS: readonly string[] = [
  'a b',
  'a@b',
  '<x>',
  'user@example.com',
  'example.com:80x',
  'example.com/path',
  'exa%zzmple.com',
  '[::1',
  'a"b',
  'a\\b',
];

/** `Host` values that are valid: names, addresses, IP literals, ports, the empty value. */
export const GOOD_HOSTS: readonly string[] = [
  'x',
  'example.com',
  'example.com:8080',
  'example.com:',
  '127.0.0.1:80',
  '[::1]:8000',
  '[v1.fe80::a+en1]',
  'xn--bcher-kva.example',
  'a%2Db.example',
  '',
];

/**
 * Requests refused at their request line, before any header field is
 * waited for: answered at once, not after the head timeout.
 */
export const REFUSED_AT_REQUEST_LINE: ReadonlyArray<readonly [name: string, bytes: string]> = [
  ['a request line ended by a bare LF, nothing after', 'GET / HTTP/1.1\n'],
  ['an HTTP/0.9 request line, nothing after', 'GET /\r\n'],
  ['test_request_line_trimming (bare LF, then a blank line)', 'XYZBOGUS / HTTP/1.1\n\r\n'],
];

/** Every malformed head above, with its status, as whole request bytes. */
export const MALFORMED: ReadonlyArray<{ name: string; request: string; status: number }> = [
  ...BAD_REQUEST_LINES.map(([name, line]) => ({
    name,
    request: `${line}\r\nHost: x\r\n\r\n`,
    status: 400,
  })),
  ...UNSUPPORTED_VERSIONS.map((line) => ({
    name: line,
    request: `${line}\r\nHost: x\r\n\r\n`,
    status: 505,
  })),
  ...BAD_HEADER_SECTIONS.map(([name, request]) => ({ name, request, status: 400 })),
  ...BAD_HOSTS.map((host) => ({
    name: `Host: ${host}`,
    request: `GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`,
    status: 400,
  })),
  ...REFUSED_AT_REQUEST_LINE.map(([name, request]) => ({ name, request, status: 400 })),
  { name: 'test_html_escape_on_error', request: MARKUP_REQUEST, status: 400 },
  { name: 'bare LF line ends', request: 'GET / HTTP/1.1\nHost: x\n\n', status: 400 },
  { name: 'a request line over 8 KiB', request: `GET ${'x'.repeat(65537)}`, status: 414 },
  {
    name: 'one line over the header budget',
    request: `GET / HTTP/1.1\r\nX-Foo: bar${'r'.repeat(65537)}\r\n\r\n`,
    status: 431,
  },
  {
    name: 'many fields over the header budget',
    request: `GET / HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 70 }, (_, i) => `X-${i}: ${'v'.repeat(1000)}\r\n`).join('')}\r\n`,
    status: 431,
  },
  {
    name: 'more than 100 fields',
    request: `GET / HTTP/1.1\r\nHost: x\r\n${'X-Foo: bar\r\n'.repeat(100)}\r\n`,
    status: 431,
  },
];
