/**
 * SimpleHTTPRequestHandler's settings for static sites: CORS (with
 * preflight), Cache-Control (a lifetime, and immutable for hashed names),
 * and a single-page application's fallback file.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileCacheControl, HASHED_NAME } from '../src/cache-control.js';
import { aged, RawClient, type Running, start, tempDir } from './helpers.js';

const temp = tempDir();
const FILES = [
  'index.html',
  'app.js',
  'main.3f2a9c1b.js',
  'assets/index-B4x_kQ9a.css',
  'docs/guide.txt',
];
const running: Running[] = [];

beforeAll(async () => {
  mkdirSync(join(temp.dir, 'assets'));
  mkdirSync(join(temp.dir, 'docs'));
  for (const name of FILES) writeFileSync(join(temp.dir, name), `contents of ${name}`);
  await aged(...FILES.map((name) => join(temp.dir, name)));
});

afterAll(async () => {
  await Promise.all(running.map((server) => server.stop()));
  temp.cleanup();
});

async function serve(settings: Record<string, unknown>) {
  const server = await start({ directory: temp.dir, ...settings });
  running.push(server);
  const client = await RawClient.connect(server.port);
  return async (path: string, fields: Record<string, string> = {}, method = 'GET') => {
    const lines = Object.entries(fields).map(([name, value]) => `${name}: ${value}\r\n`);
    client.write(`${method} ${path} HTTP/1.1\r\nHost: x\r\n${lines.join('')}\r\n`);
    return client.response(method === 'HEAD');
  };
}

describe('cors', () => {
  it('answers a preflight for GET and HEAD, and allows the origin on every response', async () => {
    const get = await serve({ cors: '*' });
    const preflight = await get(
      '/app.js',
      {
        Origin: 'https://example.com',
        'Access-Control-Request-Method': 'GET',
        'Access-Control-Request-Headers': 'range, if-none-match',
      },
      'OPTIONS',
    );
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe('*');
    expect(preflight.headers['access-control-allow-methods']).toBe('GET, HEAD, OPTIONS');
    expect(preflight.headers['access-control-allow-headers']).toBe('range, if-none-match');
    expect(preflight.headers['access-control-max-age']).toBe('86400');
    // Twice: the first from disk, the second the cache's prepared response.
    for (const path of ['/app.js', '/app.js', '/missing.txt', '/docs/', '/docs']) {
      const response = await get(path, { Origin: 'https://example.com' });
      expect(response.headers['access-control-allow-origin']).toBe('*');
      expect(response.headers['access-control-expose-headers']).toContain('Content-Range');
    }
    const plainOptions = await get('/app.js', {}, 'OPTIONS');
    expect(plainOptions.status).toBe(204);
    expect(plainOptions.headers.allow).toBe('GET, HEAD, OPTIONS');
  });

  it('a given origin is sent as it is; a malformed header list is not echoed', async () => {
    const get = await serve({ cors: 'https://app.example' });
    const preflight = await get(
      '/',
      {
        Origin: 'https://app.example',
        'Access-Control-Request-Method': 'GET',
        'Access-Control-Request-Headers': 'a b',
      },
      'OPTIONS',
    );
    expect(preflight.headers['access-control-allow-origin']).toBe('https://app.example');
    expect(preflight.headers['access-control-allow-headers']).toBeUndefined();
  });

  it('off by default: no CORS fields, and OPTIONS is 501 as in Python', async () => {
    const get = await serve({});
    const response = await get('/app.js', { Origin: 'https://example.com' });
    expect(response.headers['access-control-allow-origin']).toBeUndefined();
    const options = await get('/app.js', { 'Access-Control-Request-Method': 'GET' }, 'OPTIONS');
    expect(options.status).toBe(501);
    expect(options.headers.allow).toBe('GET, HEAD');
  });
});

describe('maxAge and immutableNames', () => {
  it('the rule for hashed names', () => {
    const hashed = new RegExp(HASHED_NAME);
    for (const name of [
      'main.3f2a9c1b.js',
      'index-B4x_kQ9a.js',
      'index-B-x_3kQa.css',
      'chunk-5GQJ3HFS.js',
      'page-a1b2c3d4e5f6a7b8.js',
    ]) {
      expect([name, hashed.test(name)]).toEqual([name, true]);
    }
    for (const name of [
      'app.js',
      'jquery-3.7.1.min.js',
      'report-20240101.pdf',
      'font-awesome4.css',
      'index-MyButton.js',
      'style.deadbeef.css',
      'index.html',
    ]) {
      expect([name, hashed.test(name)]).toEqual([name, false]);
    }
    expect(fileCacheControl('app.js', null, hashed)).toBeNull();
    expect(fileCacheControl('app.js', 0, hashed)).toBe('no-cache');
    expect(fileCacheControl('main.3f2a9c1b.js', 0, hashed)).toBe(
      'public, max-age=31536000, immutable',
    );
    expect(fileCacheControl('main.3f2a9c1b.js', 60, null)).toBe('public, max-age=60');
  });

  it('files get Cache-Control, hashed names immutable; 304s and ranges too; listings stay no-cache', async () => {
    const get = await serve({ maxAge: 600 });
    for (let round = 0; round < 2; round++) {
      expect((await get('/app.js')).headers['cache-control']).toBe('public, max-age=600');
      expect((await get('/main.3f2a9c1b.js')).headers['cache-control']).toBe(
        'public, max-age=31536000, immutable',
      );
      expect((await get('/assets/index-B4x_kQ9a.css')).headers['cache-control']).toBe(
        'public, max-age=31536000, immutable',
      );
    }
    const first = await get('/app.js');
    const notModified = await get('/app.js', { 'If-None-Match': first.headers.etag! });
    expect(notModified.status).toBe(304);
    expect(notModified.headers['cache-control']).toBe('public, max-age=600');
    const part = await get('/app.js', { Range: 'bytes=0-3' });
    expect(part.status).toBe(206);
    expect(part.headers['cache-control']).toBe('public, max-age=600');
    expect((await get('/docs/')).headers['cache-control']).toBe('no-cache');
    expect((await get('/missing.js')).headers['cache-control']).toBeUndefined();
  });

  it('no Cache-Control on files by default; immutableNames null turns immutable off', async () => {
    const plain = await serve({});
    expect((await plain('/main.3f2a9c1b.js')).headers['cache-control']).toBeUndefined();
    const noImmutable = await serve({ maxAge: 0, immutableNames: null });
    expect((await noImmutable('/main.3f2a9c1b.js')).headers['cache-control']).toBe('no-cache');
  });
});

describe('fallbackFile', () => {
  it('serves the fallback for missing paths without an extension; a missing asset is still 404', async () => {
    const get = await serve({ fallbackFile: 'index.html' });
    for (const path of ['/users/42', '/users/42/', '/settings?tab=1', '/a/b/c', '/users/42']) {
      const response = await get(path);
      expect([path, response.status]).toEqual([path, 200]);
      expect(response.body.toString()).toBe('contents of index.html');
      expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
    }
    expect((await get('/missing.js')).status).toBe(404);
    expect((await get('/assets/missing.css')).status).toBe(404);
    expect((await get('/.env')).status).toBe(404);
    // What exists is served as before.
    expect((await get('/app.js')).body.toString()).toBe('contents of app.js');
    expect((await get('/docs/')).body.toString()).toContain('Directory listing for /docs/');
    const head = await get('/users/7', {}, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String('contents of index.html'.length));
  });

  it('a missing fallback file gives 404; a file created where the fallback answered is served', async () => {
    const missing = await serve({ fallbackFile: 'nope.html' });
    expect((await missing('/users/42')).status).toBe(404);
    const get = await serve({ fallbackFile: 'index.html' });
    expect((await get('/later')).body.toString()).toBe('contents of index.html');
    writeFileSync(join(temp.dir, 'later'), 'a real file');
    expect((await get('/later')).body.toString()).toBe('a real file');
  });

  it('a fallback in a folder, compressed like any file', async () => {
    writeFileSync(join(temp.dir, 'docs', 'shell.html'), `<p>${'shell '.repeat(500)}</p>`);
    const get = await serve({ fallbackFile: 'docs/shell.html', compress: true });
    const response = await get('/deep/link', { 'Accept-Encoding': 'gzip' });
    expect(response.status).toBe(200);
    expect(response.headers['content-encoding']).toBe('gzip');
  });
});
