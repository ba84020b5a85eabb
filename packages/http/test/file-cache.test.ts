/**
 * The small-file cache: never stale, never outside the root, bounded.
 *
 * Files are created, then left alone past the racy window (see isRacy) so
 * the cache takes them; every change below must be seen by the next request.
 */
import {
  mkdirSync,
  renameSync,
  type Stats,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CachedFile, FileCache, isRacy } from '../src/file-cache.js';
import { fileCachesOf } from '../src/simple-http-request-handler.js';
import { aged, RawClient, type Running, start, tempDir } from './helpers.js';

const temp = tempDir();
const root = join(temp.dir, 'root');
const outside = join(temp.dir, 'outside');
let server: Running;

function cache(directory = root): FileCache {
  const caches = fileCachesOf(directory);
  expect(caches).toHaveLength(1);
  return caches[0]!;
}

async function get(path: string, init?: RequestInit): Promise<{ status: number; text: string }> {
  const response = await fetch(`${server.base}${path}`, init);
  return { status: response.status, text: await response.text() };
}

const FILES = ['same.txt', 'renamed.txt', 'deleted.txt', 'linked.txt', 'sub/in.txt', 'grow.txt'];

beforeAll(async () => {
  mkdirSync(join(root, 'sub'), { recursive: true });
  mkdirSync(join(outside, 'sub'), { recursive: true });
  for (const name of FILES) writeFileSync(join(root, name), `inside ${name}`);
  writeFileSync(join(outside, 'secret.txt'), 'outside secret');
  writeFileSync(join(outside, 'sub', 'in.txt'), 'outside sub/in.txt');
  await aged(...FILES.map((name) => join(root, name)));
  server = await start({ directory: root });
});

afterAll(async () => {
  await server?.stop();
  temp.cleanup();
});

describe('the file cache', () => {
  it('keeps a small file after its first request and answers from it', async () => {
    expect(await get('/same.txt')).toEqual({ status: 200, text: 'inside same.txt' });
    const before = cache().hits;
    expect(cache().size).toBeGreaterThanOrEqual(1);
    expect(await get('/same.txt')).toEqual({ status: 200, text: 'inside same.txt' });
    expect(cache().hits).toBe(before + 1);
  });

  it('a file rewritten in place with the same size is served anew', async () => {
    await get('/same.txt');
    writeFileSync(join(root, 'same.txt'), 'INSIDE SAME.TXT');
    expect(await get('/same.txt')).toEqual({ status: 200, text: 'INSIDE SAME.TXT' });
    expect(await get('/same.txt')).toEqual({ status: 200, text: 'INSIDE SAME.TXT' });
  });

  it('a file that grows or shrinks is served with its new length', async () => {
    await get('/grow.txt');
    writeFileSync(join(root, 'grow.txt'), 'longer inside grow.txt, much longer');
    expect(await get('/grow.txt')).toEqual({
      status: 200,
      text: 'longer inside grow.txt, much longer',
    });
    writeFileSync(join(root, 'grow.txt'), 'x');
    const response = await fetch(`${server.base}/grow.txt`);
    expect(response.headers.get('content-length')).toBe('1');
    expect(await response.text()).toBe('x');
  });

  it('a file replaced by another (rename over it) is served anew', async () => {
    expect((await get('/renamed.txt')).text).toBe('inside renamed.txt');
    writeFileSync(join(temp.dir, 'new.txt'), 'the replacement!!!!');
    renameSync(join(temp.dir, 'new.txt'), join(root, 'renamed.txt'));
    expect(await get('/renamed.txt')).toEqual({ status: 200, text: 'the replacement!!!!' });
  });

  it('a deleted file answers 404 and leaves the cache', async () => {
    expect((await get('/deleted.txt')).status).toBe(200);
    const size = cache().size;
    unlinkSync(join(root, 'deleted.txt'));
    expect((await get('/deleted.txt')).status).toBe(404);
    expect(cache().size).toBe(size - 1);
  });

  it('a file replaced by a symbolic link out of the root answers 404', async () => {
    expect((await get('/linked.txt')).text).toBe('inside linked.txt');
    unlinkSync(join(root, 'linked.txt'));
    symlinkSync(join(outside, 'secret.txt'), join(root, 'linked.txt'));
    expect((await get('/linked.txt')).status).toBe(404);
    expect((await get('/linked.txt')).status).toBe(404);
  });

  it('a folder moved out of the root and linked back answers 404', async () => {
    expect((await get('/sub/in.txt')).text).toBe('inside sub/in.txt');
    const hits = cache().hits;
    expect((await get('/sub/in.txt')).text).toBe('inside sub/in.txt');
    expect(cache().hits).toBe(hits + 1);
    // The file itself is untouched (same inode, times and size): only its folder moved.
    renameSync(join(root, 'sub'), join(outside, 'sub-moved'));
    symlinkSync(join(outside, 'sub-moved'), join(root, 'sub'));
    expect((await get('/sub/in.txt')).status).toBe(404);
    // And a folder replaced by a link to another folder outside.
    unlinkSync(join(root, 'sub'));
    symlinkSync(join(outside, 'sub'), join(root, 'sub'));
    expect((await get('/sub/in.txt')).status).toBe(404);
    unlinkSync(join(root, 'sub'));
    renameSync(join(outside, 'sub-moved'), join(root, 'sub'));
  });

  it('files reached through a symbolic link inside the root are served but not kept', async () => {
    mkdirSync(join(root, 'real'));
    writeFileSync(join(root, 'real', 'file.txt'), 'through a link');
    symlinkSync(join(root, 'real'), join(root, 'alias'));
    await aged(join(root, 'real', 'file.txt'), join(root, 'real'));
    const size = cache().size;
    expect(await get('/alias/file.txt')).toEqual({ status: 200, text: 'through a link' });
    expect(cache().size).toBe(size);
    expect(await get('/real/file.txt')).toEqual({ status: 200, text: 'through a link' });
    expect(cache().size).toBe(size + 1);
  });

  it('answers conditional, range, HEAD and HTTP/1.0 requests from a cached file', async () => {
    writeFileSync(join(root, 'cond.txt'), '0123456789');
    await aged(join(root, 'cond.txt'));
    const first = await fetch(`${server.base}/cond.txt`);
    const etag = first.headers.get('etag')!;
    expect(await first.text()).toBe('0123456789');
    const hits = cache().hits;

    const notModified = await fetch(`${server.base}/cond.txt`, {
      headers: { 'if-none-match': etag },
    });
    expect(notModified.status).toBe(304);
    const range = await fetch(`${server.base}/cond.txt`, { headers: { range: 'bytes=2-4' } });
    expect(range.status).toBe(206);
    expect(range.headers.get('content-range')).toBe('bytes 2-4/10');
    expect(await range.text()).toBe('234');
    const multi = await fetch(`${server.base}/cond.txt`, { headers: { range: 'bytes=0-0,9-9' } });
    expect(multi.status).toBe(206);
    expect(await multi.text()).toMatch(/\r\n\r\n0\r\n--[0-9a-f]+\r\n[\s\S]*\r\n\r\n9\r\n--/);
    const head = await fetch(`${server.base}/cond.txt`, { method: 'HEAD' });
    expect(head.headers.get('content-length')).toBe('10');
    expect(await head.text()).toBe('');

    const client = await RawClient.connect(server.port);
    try {
      client.write('GET /cond.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
      const kept = await client.response();
      expect(kept.headers.connection).toBe('keep-alive');
      expect(kept.body.toString()).toBe('0123456789');
      client.write('GET /cond.txt HTTP/1.1\r\nHost: x\r\n\r\n');
      const plain = await client.response();
      expect(plain.headers.connection).toBeUndefined();
      expect(plain.headers.etag).toBe(etag);
      expect(plain.headers['last-modified']).toBe(first.headers.get('last-modified'));
      expect(plain.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(plain.body.toString()).toBe('0123456789');
      client.write('GET /cond.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      const closing = await client.response();
      expect(closing.headers.connection).toBe('close');
      expect(closing.body.toString()).toBe('0123456789');
      await client.waitClosed();
    } finally {
      client.close();
    }
    expect(cache().hits).toBeGreaterThanOrEqual(hits + 7);
  });

  it('a prepared response has the same head as one built field by field, with the current Date', async () => {
    writeFileSync(join(root, 'head.html'), '<p>same head</p>');
    await aged(join(root, 'head.html'));
    const uncached = await start({ directory: root, fileCache: false });
    const heads: string[] = [];
    try {
      for (const port of [uncached.port, server.port, server.port]) {
        const client = await RawClient.connect(port);
        try {
          client.write('GET /head.html HTTP/1.1\r\nHost: x\r\n\r\n');
          const response = await client.response();
          expect(response.body.toString()).toBe('<p>same head</p>');
          const date = Date.parse(response.headers.date!);
          expect(Math.abs(date - Date.now())).toBeLessThan(2000);
          heads.push(response.raw.replace(/\r\nDate: [^\r]*/, ''));
        } finally {
          client.close();
        }
      }
    } finally {
      await uncached.stop();
    }
    expect(heads[1]).toBe(heads[0]);
    expect(heads[2]).toBe(heads[0]);
    expect(heads[0]).toMatch(/^HTTP\/1\.1 200 OK\r\nServer: /);
  });

  it('the same path under other settings is not shared (dotfiles)', async () => {
    writeFileSync(join(root, '.env'), 'SECRET=1');
    await aged(join(root, '.env'));
    const allowing = await start({ directory: root, dotfiles: 'allow' });
    try {
      const response = await fetch(`${allowing.base}/.env`);
      expect(await response.text()).toBe('SECRET=1');
      expect((await get('/.env')).status).toBe(404);
      expect(fileCachesOf(root)).toHaveLength(2);
    } finally {
      await allowing.stop();
    }
  });
});

describe('cache bounds', () => {
  const bounded = tempDir();
  beforeAll(async () => {
    for (let i = 0; i < 12; i++)
      writeFileSync(join(bounded.dir, `f${i}.bin`), Buffer.alloc(1000, i));
    writeFileSync(join(bounded.dir, 'big.bin'), Buffer.alloc(3000, 7));
    await aged(bounded.dir, join(bounded.dir, 'f11.bin'), join(bounded.dir, 'big.bin'));
  });
  afterAll(() => bounded.cleanup());

  it('holds at most fileCacheEntries files and fileCacheBytes bytes; larger files are not kept', async () => {
    const running = await start({
      directory: bounded.dir,
      fileCacheEntries: 8,
      fileCacheBytes: 5000,
      fileCacheMaxFileSize: 2000,
    });
    try {
      await fetch(`${running.base}/f0.bin`).then((response) => response.arrayBuffer());
      const limits = cache(bounded.dir);
      for (let round = 0; round < 2; round++) {
        for (let i = 0; i < 12; i++) {
          const body = Buffer.from(await (await fetch(`${running.base}/f${i}.bin`)).arrayBuffer());
          expect(body.equals(Buffer.alloc(1000, i))).toBe(true);
          expect(limits.size).toBeLessThanOrEqual(8);
          expect(limits.bytes).toBeLessThanOrEqual(5000);
        }
      }
      const big = Buffer.from(await (await fetch(`${running.base}/big.bin`)).arrayBuffer());
      expect(big.equals(Buffer.alloc(3000, 7))).toBe(true);
      expect(limits.bytes).toBeLessThanOrEqual(5000);
      expect(limits.size).toBeGreaterThan(0);
    } finally {
      await running.stop();
    }
  });

  it('fileCache: false keeps nothing', async () => {
    const other = tempDir();
    writeFileSync(join(other.dir, 'a.txt'), 'a');
    await aged(join(other.dir, 'a.txt'));
    const running = await start({ directory: other.dir, fileCache: false });
    try {
      expect(await (await fetch(`${running.base}/a.txt`)).text()).toBe('a');
      expect(fileCachesOf(other.dir)).toHaveLength(0);
    } finally {
      await running.stop();
      other.cleanup();
    }
  });
});

describe('FileCache', () => {
  const stats = (mtimeMs: number, ctimeMs = mtimeMs) => ({ mtimeMs, ctimeMs }) as Stats;

  it('isRacy: files changed within the window (or in the future) are not cached', () => {
    const now = 1_800_000_000_123;
    expect(isRacy(stats(now - 50), now)).toBe(true);
    expect(isRacy(stats(now - 500), now)).toBe(false);
    expect(isRacy(stats(now - 500, now - 10), now)).toBe(true);
    expect(isRacy(stats(now + 5000), now)).toBe(true);
    // Whole seconds: a file system with coarse times gets the long window.
    expect(isRacy(stats(1_799_999_999_000), 1_800_000_000_500)).toBe(true);
    expect(isRacy(stats(1_799_999_990_000), 1_800_000_000_500)).toBe(false);
  });

  const entry = (key: string, size: number): CachedFile => ({
    key,
    files: [
      { path: Buffer.from(`/nonexistent/${key}`), dev: 1, ino: 1, size, mtimeMs: 0, ctimeMs: 0 },
    ],
    folders: [],
    size,
    body: Buffer.alloc(size),
    etag: '"x"',
    mtime: 0,
    lastModified: '',
    contentType: 'text/plain',
    encoding: '',
    fields: '',
    noVariantUntil: {},
    response: null,
    responseDate: '',
    server: '',
    used: false,
    checkedTurn: -1,
  });

  it('evicts with the CLOCK rule: an entry used since the hand passed survives', () => {
    const limited = new FileCache({ maxEntries: 3, maxBytes: 1 << 20, maxFileSize: 1000 });
    limited.store(entry('/a', 10));
    limited.store(entry('/b', 10));
    limited.store(entry('/c', 10));
    limited.store(entry('/d', 10)); // every bit set: one round clears them, then /a goes
    expect(limited.size).toBe(3);
    expect(limited.bytes).toBe(30);
    limited.store(entry('/e', 10));
    expect(limited.size).toBe(3);
    expect(limited.accepts(1001)).toBe(false);
    limited.store(entry('/big', 1001));
    expect(limited.size).toBe(3);
  });

  it('one check serves the rest of its event-loop turn, unless checks are made on each request', async () => {
    const dir = tempDir();
    try {
      const path = join(dir.dir, 'f.txt');
      writeFileSync(path, 'one');
      const st = statSync(path);
      const make = () => ({
        ...entry('/f.txt', 3),
        files: [
          {
            path: Buffer.from(path),
            dev: st.dev,
            ino: st.ino,
            size: 3,
            mtimeMs: st.mtimeMs,
            ctimeMs: st.ctimeMs,
          },
        ],
      });
      const shared = new FileCache();
      const each = new FileCache({ shareChecksWithinTurn: false });
      shared.store(make());
      each.store(make());
      expect(shared.lookup('/f.txt')).toBeDefined();
      expect(each.lookup('/f.txt')).toBeDefined();
      unlinkSync(path);
      // Same turn: the check just made still holds for the shared cache only.
      expect(shared.lookup('/f.txt')).toBeDefined();
      expect(each.lookup('/f.txt')).toBeUndefined();
      await new Promise((resolve) => setImmediate(resolve));
      expect(shared.lookup('/f.txt')).toBeUndefined();
    } finally {
      dir.cleanup();
    }
  });

  it('counts prepared responses in its bytes, and drops entries whose file is gone', () => {
    const limited = new FileCache({ maxEntries: 10, maxBytes: 100, maxFileSize: 50 });
    const a = entry('/a', 40);
    limited.store(a);
    limited.setResponse(a, Buffer.alloc(70), 'date', 'server');
    expect(limited.bytes).toBe(70);
    expect(a.body.length).toBe(40);
    limited.store(entry('/b', 40)); // 110 > 100: something goes
    expect(limited.bytes).toBeLessThanOrEqual(100);
    expect(limited.lookup('/b') ?? limited.lookup('/a')).toBeUndefined();
    expect(limited.size).toBe(0);
    expect(limited.invalidations).toBeGreaterThanOrEqual(1);
  });
});
