/** Range and If-Range (RFC 9110 §14, §13.1.5), over sockets. */
import { utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient, type Running, start, tempDir } from './helpers.js';

const temp = tempDir();
const DATA = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz');
const BIG = Buffer.alloc(2 * 1024 * 1024);
let run: Running;
let etag: string;
let lastModified: string;

beforeAll(async () => {
  for (let i = 0; i < BIG.length; i++) BIG[i] = (i * 7 + (i >> 8)) & 0xff;
  writeFileSync(join(temp.dir, 'data.txt'), DATA);
  writeFileSync(join(temp.dir, 'big.bin'), BIG);
  writeFileSync(join(temp.dir, 'empty'), '');
  utimesSync(join(temp.dir, 'data.txt'), 1_700_000_000, 1_700_000_000);
  run = await start({ directory: temp.dir });
  const response = await fetch(`${run.base}/data.txt`);
  etag = response.headers.get('etag')!;
  lastModified = response.headers.get('last-modified')!;
  await response.arrayBuffer();
});

afterAll(async () => {
  await run.stop();
  temp.cleanup();
});

const ranged = (range: string, path = '/data.txt', headers: Record<string, string> = {}) =>
  fetch(`${run.base}${path}`, { headers: { Range: range, ...headers } });

describe('single ranges', () => {
  it.each([
    ['bytes=0-4', 0, 4],
    ['bytes=10-', 10, 35],
    ['bytes=-5', 31, 35],
    ['bytes=30-1000', 30, 35],
    ['bytes=0-0', 0, 0],
    // RFC 9110 §14.1.2: a suffix longer than the representation is all of it (hole 5).
    ['bytes=-999', 0, 35],
    ['bytes=-36', 0, 35],
    ['bytes=30-33, -2', 30, 35],
  ])('%s gives 206 with the bytes', async (range, start, end) => {
    const response = await ranged(range);
    expect(response.status).toBe(206);
    expect(response.headers.get('content-range')).toBe(`bytes ${start}-${end}/36`);
    expect(response.headers.get('content-length')).toBe(String(end - start + 1));
    expect(Buffer.from(await response.arrayBuffer())).toEqual(DATA.subarray(start, end + 1));
  });

  it('overlapping ranges are merged into one', async () => {
    const response = await ranged('bytes=0-5,3-8');
    expect(response.status).toBe(206);
    expect(response.headers.get('content-range')).toBe('bytes 0-8/36');
    expect(await response.text()).toBe('012345678');
  });

  it('a range in the middle of a streamed file', async () => {
    const start = 1_000_003;
    const end = 1_900_000;
    const response = await ranged(`bytes=${start}-${end}`, '/big.bin');
    expect(response.status).toBe(206);
    expect(Buffer.from(await response.arrayBuffer()).equals(BIG.subarray(start, end + 1))).toBe(
      true,
    );
  });

  it('HEAD with a range: the 206 head, no body', async () => {
    const response = await fetch(`${run.base}/data.txt`, {
      method: 'HEAD',
      headers: { Range: 'bytes=1-2' },
    });
    expect(response.status).toBe(206);
    expect(response.headers.get('content-length')).toBe('2');
    expect(await response.text()).toBe('');
  });
});

describe('unsatisfiable and ignored ranges', () => {
  it('an unsatisfiable range gives 416 with bytes */size', async () => {
    for (const range of ['bytes=36-', 'bytes=100-200']) {
      const response = await ranged(range);
      expect(response.status, range).toBe(416);
      expect(response.headers.get('content-range')).toBe('bytes */36');
      await response.arrayBuffer();
    }
    const empty = await ranged('bytes=0-0', '/empty');
    expect(empty.status).toBe(416);
    expect(empty.headers.get('content-range')).toBe('bytes */0');
  });

  it.each([
    'bytes=abc',
    'bytes',
    'bytes=',
    'items=0-5',
    'bytes=--1',
    'bytes=1-2-3',
    'bytes = 2-3',
    'ბაიტები=0-1',
  ])('a malformed or foreign range %s is ignored (200)', async (range) => {
    const response = await fetch(`${run.base}/data.txt`, {
      headers: { Range: Buffer.from(range).toString('latin1') },
    });
    expect(response.status).toBe(200);
    expect(Buffer.from(await response.arrayBuffer())).toEqual(DATA);
  });

  it('more ranges than the cap: the header is ignored', async () => {
    const many = Array.from({ length: 17 }, (_, i) => `${i * 2}-${i * 2}`).join(',');
    const response = await ranged(`bytes=${many}`);
    expect(response.status).toBe(200);
    await response.arrayBuffer();
  });

  it('a huge range header within the head limit cannot hurt the server', async () => {
    const many = Array.from({ length: 6000 }, (_, i) => `${i % 36}-${i % 36}`).join(',');
    expect(many.length).toBeLessThan(60_000);
    const response = await ranged(`bytes=${many}`);
    expect([200, 206]).toContain(response.status);
    await response.arrayBuffer();
    expect((await fetch(`${run.base}/data.txt`)).status).toBe(200);
  });

  it('a directory listing ignores Range', async () => {
    const response = await ranged('bytes=0-1', '/');
    expect(response.status).toBe(200);
    await response.text();
  });
});

describe('multiple ranges', () => {
  it('gives multipart/byteranges with a right Content-Length', async () => {
    const client = await RawClient.connect(run.port);
    client.write('GET /data.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-2,10-12,-2\r\n\r\n');
    const response = await client.response();
    client.close();
    expect(response.status).toBe(206);
    const boundary = /^multipart\/byteranges; boundary=(\w+)$/.exec(
      response.headers['content-type']!,
    )![1]!;
    expect(response.body.length).toBe(Number(response.headers['content-length']));
    const text = response.body.toString('latin1');
    const parts = text.split(`--${boundary}`);
    expect(parts.at(-1)).toBe('--\r\n');
    const bodies = parts.slice(1, -1).map((part) => {
      const [head, body] = part.split('\r\n\r\n') as [string, string];
      return { range: /Content-Range: (.*)/.exec(head)![1], body: body.replace(/\r\n$/, '') };
    });
    expect(bodies).toEqual([
      { range: 'bytes 0-2/36', body: '012' },
      { range: 'bytes 10-12/36', body: 'abc' },
      { range: 'bytes 34-35/36', body: 'yz' },
    ]);
  });
});

describe('If-Range', () => {
  it('a matching ETag or date gives 206, another gives the whole file', async () => {
    expect((await ranged('bytes=0-1', '/data.txt', { 'If-Range': etag })).status).toBe(206);
    expect((await ranged('bytes=0-1', '/data.txt', { 'If-Range': lastModified })).status).toBe(206);
    const stale = await ranged('bytes=0-1', '/data.txt', { 'If-Range': '"stale"' });
    expect(stale.status).toBe(200);
    expect(Buffer.from(await stale.arrayBuffer())).toEqual(DATA);
    const weak = await ranged('bytes=0-1', '/data.txt', { 'If-Range': `W/${etag}` });
    expect(weak.status).toBe(200);
    await weak.arrayBuffer();
    const old = await ranged('bytes=0-1', '/data.txt', { 'If-Range': new Date(0).toUTCString() });
    expect(old.status).toBe(200);
    await old.arrayBuffer();
  });
});
