/**
 * Content codings: precompressed `.br`/`.gz` files beside the original and
 * compression as files are served, negotiated by `Accept-Encoding`; each
 * body decompressed and compared with the file, each coding its own ETag,
 * never a compressed `Range` response. From disk and from the file cache.
 */
import { utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acceptedEncodings } from '../src/encodings.js';
import { aged, RawClient, type Running, start, tempDir } from './helpers.js';

const temp = tempDir();
const TEXT = Buffer.from('body { color: rebeccapurple; }\n'.repeat(200)); // 6.2 KB of CSS
const SCRIPT = Buffer.from(`${'export const answer = 42;\n'.repeat(400)}`);
const BINARY = Buffer.alloc(8192, 7);
let servers: Record<'cached' | 'disk', Running>;

beforeAll(async () => {
  writeFileSync(join(temp.dir, 'style.css'), TEXT);
  writeFileSync(join(temp.dir, 'small.css'), 'a{}');
  writeFileSync(join(temp.dir, 'data.bin'), BINARY);
  writeFileSync(join(temp.dir, 'app.js'), SCRIPT);
  // Precompressed forms, marked so the tests can tell them from bytes compressed by the server.
  writeFileSync(join(temp.dir, 'app.js.br'), brotliCompressSync(SCRIPT));
  writeFileSync(join(temp.dir, 'app.js.gz'), gzipSync(SCRIPT, { level: 9 }));
  writeFileSync(join(temp.dir, 'stale.js'), SCRIPT);
  writeFileSync(join(temp.dir, 'stale.js.gz'), gzipSync(Buffer.from('old contents')));
  const past = Date.now() / 1000 - 3600;
  utimesSync(join(temp.dir, 'stale.js.gz'), past, past);
  await aged(
    ...['style.css', 'app.js', 'app.js.br', 'app.js.gz', 'stale.js'].map((name) =>
      join(temp.dir, name),
    ),
  );
  const settings = { directory: temp.dir, precompressed: true, compress: true };
  servers = {
    cached: await start(settings),
    disk: await start({ ...settings, fileCache: false }),
  };
});

afterAll(async () => {
  await Promise.all(Object.values(servers).map((server) => server.stop()));
  temp.cleanup();
});

function decoded(encoding: string | undefined, body: Buffer): Buffer {
  if (encoding === 'br') return brotliDecompressSync(body);
  if (encoding === 'gzip') return gunzipSync(body);
  expect(encoding).toBeUndefined();
  return body;
}

describe('acceptedEncodings', () => {
  it.each([
    ['gzip, deflate, br, zstd', ['br', 'gzip']],
    ['gzip', ['gzip']],
    ['br;q=0, gzip', ['gzip']],
    ['gzip;q=0.5, br;q=0.2', ['gzip', 'br']],
    ['*', ['br', 'gzip']],
    ['identity', []],
    ['gzip;q=0.1, identity', []],
    ['deflate', []],
    ['', []],
  ])('%j: %j', (header, expected) => {
    expect(acceptedEncodings(header)).toEqual(expected);
  });
});

describe.each(['cached', 'disk'] as const)('served from the %s path', (kind) => {
  let client: RawClient;
  beforeAll(async () => {
    client = await RawClient.connect(servers[kind].port);
  });
  afterAll(() => client.close());

  async function get(path: string, fields: Record<string, string> = {}, method = 'GET') {
    const lines = Object.entries(fields).map(([name, value]) => `${name}: ${value}\r\n`);
    client.write(`${method} ${path} HTTP/1.1\r\nHost: x\r\n${lines.join('')}\r\n`);
    return client.response(method === 'HEAD');
  }

  it('serves the precompressed file of each coding the client prefers, with its own ETag', async () => {
    const etags = new Set<string>();
    for (const [accept, coding, made] of [
      ['gzip, deflate, br', 'br', brotliCompressSync(SCRIPT)],
      ['gzip', 'gzip', gzipSync(SCRIPT, { level: 9 })],
      ['br;q=0.5, gzip', 'gzip', gzipSync(SCRIPT, { level: 9 })],
    ] as const) {
      for (let round = 0; round < 2; round++) {
        const response = await get('/app.js', { 'Accept-Encoding': accept });
        expect(response.status).toBe(200);
        expect(response.headers['content-encoding']).toBe(coding);
        expect(response.headers.vary).toBe('Accept-Encoding');
        expect(response.headers['content-type']).toBe('text/javascript; charset=utf-8');
        expect(response.headers['accept-ranges']).toBeUndefined();
        expect(response.body.equals(made)).toBe(true);
        expect(decoded(coding, response.body).equals(SCRIPT)).toBe(true);
        etags.add(response.headers.etag!);
      }
    }
    const plain = await get('/app.js');
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.headers.vary).toBe('Accept-Encoding');
    expect(plain.body.equals(SCRIPT)).toBe(true);
    etags.add(plain.headers.etag!);
    expect(etags.size).toBe(3);
  });

  it('answers 304 for the ETag of the coding it would send, 200 for another', async () => {
    const br = await get('/app.js', { 'Accept-Encoding': 'br' });
    const gzip = await get('/app.js', { 'Accept-Encoding': 'gzip' });
    const again = await get('/app.js', {
      'Accept-Encoding': 'br',
      'If-None-Match': br.headers.etag!,
    });
    expect(again.status).toBe(304);
    expect(again.headers.etag).toBe(br.headers.etag);
    expect(again.headers.vary).toBe('Accept-Encoding');
    const other = await get('/app.js', {
      'Accept-Encoding': 'br',
      'If-None-Match': gzip.headers.etag!,
    });
    expect(other.status).toBe(200);
    expect(other.headers['content-encoding']).toBe('br');
  });

  it('compresses text types as they are served, brotli and gzip', async () => {
    for (const coding of ['br', 'gzip']) {
      const response = await get('/style.css', { 'Accept-Encoding': coding });
      expect(response.headers['content-encoding']).toBe(coding);
      expect(Number(response.headers['content-length'])).toBe(response.body.length);
      expect(response.body.length).toBeLessThan(TEXT.length / 10);
      expect(decoded(coding, response.body).equals(TEXT)).toBe(true);
      expect(response.headers.etag).toMatch(new RegExp(`-${coding}"$`));
      const head = await get('/style.css', { 'Accept-Encoding': coding }, 'HEAD');
      expect(head.headers['content-length']).toBe(response.headers['content-length']);
      expect(head.headers['content-encoding']).toBe(coding);
    }
  });

  it('leaves small files, binary types and clients that accept no coding alone', async () => {
    for (const [path, accept] of [
      ['/small.css', 'br, gzip'],
      ['/data.bin', 'br, gzip'],
      ['/style.css', 'identity'],
      ['/style.css', 'deflate'],
      ['/style.css', 'br;q=0, gzip;q=0'],
    ]) {
      const response = await get(path!, { 'Accept-Encoding': accept! });
      expect(response.status).toBe(200);
      expect(response.headers['content-encoding']).toBeUndefined();
      expect(response.headers.vary).toBe('Accept-Encoding');
    }
  });

  it('never compresses a Range response', async () => {
    for (const path of ['/style.css', '/app.js']) {
      const response = await get(path, { 'Accept-Encoding': 'br, gzip', Range: 'bytes=0-99' });
      expect(response.status).toBe(206);
      expect(response.headers['content-encoding']).toBeUndefined();
      expect(response.headers['content-range']).toMatch(/^bytes 0-99\//);
      const source = path === '/app.js' ? SCRIPT : TEXT;
      expect(response.body.equals(source.subarray(0, 100))).toBe(true);
    }
  });

  it('ignores a precompressed file older than the original (it would be stale)', async () => {
    const response = await get('/stale.js', { 'Accept-Encoding': 'gzip' });
    expect(response.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(response.body).equals(SCRIPT)).toBe(true);
  });
});

describe('the file cache and codings', () => {
  it('an encoded form is dropped when its original changes', async () => {
    const path = join(temp.dir, 'changing.css');
    writeFileSync(path, TEXT);
    await aged(path);
    const client = await RawClient.connect(servers.cached.port);
    try {
      const get = async () => {
        client.write('GET /changing.css HTTP/1.1\r\nHost: x\r\nAccept-Encoding: br\r\n\r\n');
        return brotliDecompressSync((await client.response()).body).toString();
      };
      expect(await get()).toBe(TEXT.toString());
      expect(await get()).toBe(TEXT.toString());
      const changed = `${TEXT.toString()}/* changed */\n`;
      writeFileSync(path, changed);
      expect(await get()).toBe(changed);
    } finally {
      client.close();
    }
  });

  it('with codings off, nothing varies', async () => {
    const plain = await start({ directory: temp.dir });
    try {
      const client = await RawClient.connect(plain.port);
      client.write('GET /style.css HTTP/1.1\r\nHost: x\r\nAccept-Encoding: br, gzip\r\n\r\n');
      const response = await client.response();
      client.close();
      expect(response.headers['content-encoding']).toBeUndefined();
      expect(response.headers.vary).toBeUndefined();
      expect(response.body.equals(TEXT)).toBe(true);
    } finally {
      await plain.stop();
    }
  });
});
