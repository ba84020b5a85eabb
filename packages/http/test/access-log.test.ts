/**
 * The log: one line per request answered, nothing more for a client's
 * fault (never a stack trace), nothing at all when quiet (hole 4); a
 * handler's own bug is still reported.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { logDateTimeString, logLine } from '../src/access-log.js';
import { BaseHTTPRequestHandler } from '../src/index.js';
import { type Running, raw, start, tempDir, until } from './helpers.js';

const temp = tempDir();
let stderr: string[];

beforeAll(() => writeFileSync(join(temp.dir, 'a.txt'), 'aaa'));
afterAll(() => temp.cleanup());
beforeEach(() => {
  stderr = [];
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr.push(String(chunk));
    return true;
  });
});
afterEach(() => {
  vi.restoreAllMocks();
});

class Upload extends BaseHTTPRequestHandler {
  async doPOST(): Promise<void> {
    const body = await this.readBody();
    this.sendResponse(200);
    this.sendHeader('Content-Length', body.length);
    await this.endHeaders(body);
  }

  doGET(): void {
    throw new TypeError('a bug in the handler');
  }
}

/** Requests that are the client's fault, each on its own connection, ended by the client. */
const CLIENT_FAULTS: ReadonlyArray<readonly [string, string, string]> = [
  [
    'a GET body shorter than its Content-Length, then end of stream',
    'GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc',
    '"GET /a.txt HTTP/1.1" 200 -',
  ],
  ['a malformed request line', 'GET /\r\n', '"GET /" 400 -'],
  ['an invalid Host', 'GET /a.txt HTTP/1.1\r\nHost: a b\r\n\r\n', '"GET /a.txt HTTP/1.1" 400 -'],
  ['a head broken off', 'GET /a.txt HTTP/1.1\r\nHost: x\r\nX-A:', ''],
];

async function sendAll(port: number, requests: readonly string[], run: Running): Promise<void> {
  await Promise.all(requests.map((request) => raw(port, request, 8000, { end: true })));
  await until(() => run.server.httpConnections.size === 0, 'every handler to finish');
}

describe('one line per bad request, no stack trace', () => {
  let run: Running;
  let upload: Running;
  beforeAll(async () => {
    run = await start({ directory: temp.dir, quiet: false });
    upload = await start({ RequestHandlerClass: Upload, quiet: false });
  });
  afterAll(async () => {
    await run.stop();
    await upload.stop();
  });

  it.each(CLIENT_FAULTS)('%s: at most its access line', async (_name, request, line) => {
    await sendAll(run.port, [request], run);
    const output = stderr.join('');
    expect(output).not.toMatch(/Exception|Error|\n\s+at /);
    if (line === '') expect(output).toBe('');
    else
      expect(output).toMatch(
        new RegExp(`^127\\.0\\.0\\.1 - - \\[[^\\]]+\\] ${escapeRegExp(line)}\\n$`),
      );
  });

  it('a POST body broken off before its Content-Length: one 400 line', async () => {
    const request = 'POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc';
    await sendAll(upload.port, [request], upload);
    expect(stderr.join('')).toMatch(/^127\.0\.0\.1 - - \[[^\]]+\] "POST \/up HTTP\/1\.1" 400 -\n$/);
  });

  it('a hundred broken-off bodies write a hundred short lines', async () => {
    const request = CLIENT_FAULTS[0]![1];
    await sendAll(run.port, Array(100).fill(request), run);
    const lines = stderr.join('').split('\n').filter(Boolean);
    expect(lines).toHaveLength(100);
    for (const line of lines) expect(line.length).toBeLessThan(80);
  });

  it("a handler's own bug is still reported, with its stack", async () => {
    await sendAll(upload.port, ['GET / HTTP/1.1\r\nHost: x\r\n\r\n'], upload);
    const output = stderr.join('');
    expect(output).toContain('Exception occurred during processing of request from 127.0.0.1:');
    expect(output).toContain('TypeError: a bug in the handler');
  });
});

describe('quiet', () => {
  it('writes nothing for requests, good or bad', async () => {
    const run = await start({ directory: temp.dir, quiet: true });
    try {
      await sendAll(
        run.port,
        [...CLIENT_FAULTS.map(([, request]) => request), 'GET /a.txt HTTP/1.0\r\n\r\n'],
        run,
      );
      expect(stderr.join('')).toBe('');
    } finally {
      await run.stop();
    }
  });
});

describe('the line format (Python)', () => {
  it('client, time, message; control characters and backslashes escaped', () => {
    const date = new Date(2026, 10, 26, 10, 4, 5);
    expect(logDateTimeString(date)).toBe('26/Nov/2026 10:04:05');
    expect(logLine('::1', '"GET /\x1b[31m\\ HTTP/1.1" 200 -', date)).toBe(
      '::1 - - [26/Nov/2026 10:04:05] "GET /\\x1b[31m\\\\ HTTP/1.1" 200 -\n',
    );
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

describe('logFormat', () => {
  const CLF =
    /^127\.0\.0\.1 - - \[(\d{2})\/(\w{3})\/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-]\d{4})\] "((?:[^"\\]|\\.)*)" (\d{3}) (\d+|-)(.*)\n$/;
  let runs: Running[];
  beforeAll(async () => {
    runs = await Promise.all(
      (['common', 'combined', 'json'] as const).map((logFormat) =>
        start({ directory: temp.dir, quiet: false, logFormat }),
      ),
    );
  });
  afterAll(async () => {
    await Promise.all(runs.map((run) => run.stop()));
  });

  async function logged(run: Running, request: string): Promise<string> {
    await sendAll(run.port, [request], run);
    expect(stderr).toHaveLength(1);
    return stderr.pop()!;
  }

  const REQUEST =
    'GET /a.txt?q=1 HTTP/1.1\r\nHost: x\r\nReferer: http://example.com/"page"\r\n' +
    'User-Agent: curl/8.0 \\x "a"\r\nConnection: close\r\n\r\n';

  it('common: the Common Log Format, with the body bytes', async () => {
    const line = await logged(runs[0]!, REQUEST);
    const match = CLF.exec(line);
    expect(match).not.toBeNull();
    expect(match![8]).toBe('GET /a.txt?q=1 HTTP/1.1');
    expect([match![9], match![10], match![11]]).toEqual(['200', '3', '']);
    // The local time and its offset, as the time of the line.
    const offset = -new Date().getTimezoneOffset();
    const sign = offset < 0 ? '-' : '+';
    const zone = `${sign}${String(Math.floor(Math.abs(offset) / 60)).padStart(2, '0')}${String(Math.abs(offset) % 60).padStart(2, '0')}`;
    expect(match![7]).toBe(zone);
    expect(await logged(runs[0]!, 'GET /missing HTTP/1.1\r\nHost: x\r\n\r\n')).toMatch(
      /" 404 \d+\n$/,
    );
    expect(await logged(runs[0]!, 'HEAD /a.txt HTTP/1.1\r\nHost: x\r\n\r\n')).toMatch(/" 200 -\n$/);
  });

  it('combined: referrer and user agent quoted and escaped, then the duration', async () => {
    const line = await logged(runs[1]!, REQUEST);
    const match = CLF.exec(line);
    expect(match).not.toBeNull();
    expect(match![11]).toMatch(
      /^ "http:\/\/example\.com\/\\"page\\"" "curl\/8\.0 \\\\x \\"a\\"" \d+\.\d{3}$/,
    );
    const bad = await logged(runs[1]!, 'GET /\r\n');
    expect(bad).toMatch(/"GET \/" 400 \d+ "-" "-" \d+\.\d{3}\n$/);
  });

  it('json: one object per line, every field', async () => {
    const line = await logged(runs[2]!, REQUEST);
    expect(line.endsWith('}\n')).toBe(true);
    const record = JSON.parse(line);
    expect(record).toMatchObject({
      client: '127.0.0.1',
      method: 'GET',
      path: '/a.txt?q=1',
      protocol: 'HTTP/1.1',
      status: 200,
      bytes: 3,
      referrer: 'http://example.com/"page"',
      user_agent: 'curl/8.0 \\x "a"',
    });
    expect(Date.parse(record.time)).toBeGreaterThan(Date.now() - 60_000);
    expect(record.duration_ms).toBeGreaterThanOrEqual(0);
    // U+0085 is sent as UTF-8 (C2 85), read as latin-1 (Â and the C1 control NEL), which
    // JSON.stringify would leave raw for a terminal to act on.
    const bad = await logged(runs[2]!, 'GET /\u0085 HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(bad).not.toMatch(/[\x7f-\x9f]/);
    expect(bad).toContain('"path":"/\u00c2\\u0085"');
    expect(JSON.parse(bad)).toMatchObject({ status: 404, path: '/\u00c2\u0085', referrer: null });
  });
});
