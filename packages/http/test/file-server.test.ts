/**
 * File serving: ports of CPython's SimpleHTTPServerTestCase (and
 * SimpleHTTPRequestHandlerTestCase's path cases), plus listings, MIME types
 * and validators.
 */
import { mkdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient, type Running, raw, start, statusOf, tempDir } from './helpers.js';

const DATA = 'We are the knights who say Ni!';
const temp = tempDir();
const base = join(temp.dir, 'tmpdir');
let run: Running;
let lastModified: string;

beforeAll(async () => {
  mkdirSync(base);
  writeFileSync(join(base, 'test'), DATA);
  // Whole seconds, so Last-Modified round-trips exactly.
  utimesSync(join(base, 'test'), 1_700_000_000, 1_700_000_000);
  lastModified = new Date(statSync(join(base, 'test')).mtimeMs).toUTCString();
  run = await start({ directory: temp.dir });
});

afterAll(async () => {
  await run.stop();
  temp.cleanup();
});

const request = (path: string, init: RequestInit = {}) =>
  fetch(`${run.base}${path}`, { redirect: 'manual', ...init });

describe('SimpleHTTPServerTestCase', () => {
  it('test_get', async () => {
    let response = await request('/tmpdir/test');
    expect(response.status).toBe(200);
    expect(await response.text()).toBe(DATA);
    // A trailing slash on a file is 404 (Issue17324).
    expect((await request('/tmpdir/test/')).status).toBe(404);
    expect((await request('/tmpdir/')).status).toBe(200);
    response = await request('/tmpdir');
    expect(response.status).toBe(301);
    expect(response.headers.get('content-length')).toBe('0');
    expect((await request('/tmpdir/?hi=2')).status).toBe(200);
    response = await request('/tmpdir?hi=1');
    expect(response.status).toBe(301);
    expect(response.headers.get('location')).toBe('/tmpdir/?hi=1');
    expect((await request('/ThisDoesNotExist')).status).toBe(404);
    expect((await request('/ThisDoesNotExist/')).status).toBe(404);
    mkdirSync(join(base, 'spam', 'index.html'), { recursive: true });
    response = await request('/tmpdir/spam/');
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('Directory listing for /tmpdir/spam/');
    writeFileSync(join(base, 'index.html'), 'Dummy index file\r\n');
    response = await request('/tmpdir/');
    expect(await response.text()).toBe('Dummy index file\r\n');
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    rmSync(join(base, 'index.html'));
  });

  it('test_head', async () => {
    const response = await request('/tmpdir/test', { method: 'HEAD' });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-length')).toBe(String(DATA.length));
    expect(response.headers.get('content-type')).toBe('application/octet-stream');
    expect(await response.text()).toBe('');
  });

  it('HEAD sends the same head as GET, without a body (raw)', async () => {
    const client = await RawClient.connect(run.port);
    client.write(
      'HEAD /tmpdir/test HTTP/1.1\r\nHost: x\r\n\r\nGET /tmpdir/test HTTP/1.1\r\nHost: x\r\n\r\n',
    );
    const head = await client.response(true);
    const get = await client.response();
    client.close();
    const strip = (h: Record<string, string>) => ({ ...h, date: '' });
    expect(strip(head.headers)).toEqual(strip(get.headers));
    expect(get.body.toString()).toBe(DATA);
  });

  it('test_browser_cache: If-Modified-Since at or after Last-Modified gives 304', async () => {
    let response = await request('/tmpdir/test', {
      headers: { 'If-Modified-Since': lastModified },
    });
    expect(response.status).toBe(304);
    const later = new Date(Date.parse(lastModified) + 3600_000).toUTCString();
    response = await request('/tmpdir/test', { headers: { 'If-Modified-Since': later } });
    expect(response.status).toBe(304);
  });

  it('test_browser_cache_file_changed: an older If-Modified-Since gives 200', async () => {
    const older = new Date(Date.parse(lastModified) - 365 * 86400_000).toUTCString();
    const response = await request('/tmpdir/test', { headers: { 'If-Modified-Since': older } });
    expect(response.status).toBe(200);
  });

  it('test_browser_cache_with_If_None_Match_header: If-None-Match wins over If-Modified-Since', async () => {
    // RFC 9110 §13.1.3: with If-None-Match present, If-Modified-Since is ignored.
    let response = await request('/tmpdir/test', {
      headers: { 'If-Modified-Since': lastModified, 'If-None-Match': '"other"' },
    });
    expect(response.status).toBe(200);
    // Python ignores If-None-Match altogether; here "*" matches the file (RFC 9110 §13.1.2).
    response = await request('/tmpdir/test', { headers: { 'If-None-Match': '*' } });
    expect(response.status).toBe(304);
  });

  it('test_last_modified: the modification time to the second', async () => {
    const response = await request('/tmpdir/test');
    expect(response.headers.get('last-modified')).toBe(lastModified);
    expect(response.headers.get('last-modified')).toBe('Tue, 14 Nov 2023 22:13:20 GMT');
  });

  it('test_path_without_leading_slash: rejected (RFC 9112 origin-form starts with /)', async () => {
    const reply = await raw(
      run.port,
      'GET tmpdir/test HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    expect(statusOf(reply)).toBe(400);
  });

  it('test_start_with_double_slash: //tmpdir/test is /tmpdir/test', async () => {
    const reply = await raw(
      run.port,
      'GET //tmpdir/test HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    expect(statusOf(reply)).toBe(200);
  });

  it('test_html_escape_filename', async () => {
    writeFileSync(join(base, '<test&>.txt'), '');
    const response = await request('/tmpdir/');
    const body = await response.text();
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(body).toContain('>&lt;test&amp;&gt;.txt<');
    expect(body).toContain('href="%3Ctest%26%3E.txt"');
  });

  it('test_undecodable_filename: listed with %FF links, served by them', async () => {
    const name = Buffer.concat([Buffer.from('@test_'), Buffer.from([0xff]), Buffer.from('.txt')]);
    writeFileSync(Buffer.concat([Buffer.from(`${base}/`), name]), Buffer.from([0xff]));
    const body = await (await request('/tmpdir/')).text();
    expect(body).toContain('href="%40test_%FF.txt"');
    expect(body).toContain('>@test_\ufffd.txt<');
    const response = await request('/tmpdir/%40test_%FF.txt');
    expect(response.status).toBe(200);
    expect(Buffer.from(await response.arrayBuffer())).toEqual(Buffer.from([0xff]));
  });

  it('test_undecodable_parameter: a bad query is no error', async () => {
    expect((await request('/tmpdir/?x=123')).status).toBe(200);
    expect((await request('/tmpdir/?x=%bb')).status).toBe(200);
  });

  it('test_get_dir_redirect_location_domain_injection_bug', async () => {
    mkdirSync(join(base, 'existing_directory'), { recursive: true });
    mkdirSync(join(temp.dir, 'python.org'), { recursive: true });
    // Python collapses the encoded slashes; here they are refused outright.
    const url = '/python.org/..%2f..%2f..%2f..%2f..%2f../%0a%0d/../tmpdir/existing_directory';
    for (const attack of [url, `/${url}`, `//${url}`]) {
      const reply = await raw(
        run.port,
        `GET ${attack} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      );
      expect(statusOf(reply)).toBe(400);
      expect(reply.toString('latin1')).not.toMatch(/\r\nLocation:/i);
    }
    // Leading slashes never reach the Location header.
    for (const path of ['//python.org', '///python.org', '//tmpdir//existing_directory']) {
      const response = await request(path.replace(/^\/+/, (s) => s));
      expect(response.status).toBe(301);
      const location = response.headers.get('location')!;
      expect(location.startsWith('//')).toBe(false);
      expect(location.startsWith('/')).toBe(true);
    }
    const reply = await raw(
      run.port,
      'GET ///python.org?q=<b> HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    expect(reply.toString('latin1')).toMatch(/\r\nLocation: \/python\.org\/\?q=<b>\r\n/);
    // An absolute-form target: only its path is used, so the Location stays on this server.
    const absolute = await raw(
      run.port,
      'GET https://pypi.org/tmpdir/existing_directory HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    expect(absolute.toString('latin1')).toMatch(/\r\nLocation: \/tmpdir\/existing_directory\/\r\n/);
  });
});

describe('listing', () => {
  it('is sorted case-insensitively, escaped, with links that work for odd names', async () => {
    const dir = join(temp.dir, 'odd');
    mkdirSync(dir);
    const names = [
      'b file.txt',
      'A#hash',
      'c?query',
      'd%percent',
      'é-accent.txt',
      'Zed',
      'x:y',
      '"q\'uote',
    ];
    for (const name of names) writeFileSync(join(dir, name), name);
    mkdirSync(join(dir, 'sub dir'));
    const html = await (await request('/odd/')).text();
    const rows = html.slice(html.indexOf('<tbody>'));
    const hrefs = [...rows.matchAll(/<a href="([^"]*)">/g)].map((m) => m[1]!);
    expect(hrefs[0]).toBe('../');
    const links = hrefs.slice(1);
    expect(links).toEqual([
      '%22q%27uote',
      'A%23hash',
      'b%20file.txt',
      'c%3Fquery',
      'd%25percent',
      'sub%20dir/',
      'x%3Ay',
      'Zed',
      '%C3%A9-accent.txt',
    ]);
    for (const [i, link] of links.entries()) {
      if (link.endsWith('/')) continue;
      const response = await request(`/odd/${link}`);
      expect(response.status, link).toBe(200);
      expect(names).toContain(await response.text());
      expect(i).toBeGreaterThanOrEqual(0);
    }
    expect(html).toContain('>&quot;q&#x27;uote<');
    expect(html).toContain('title="10 bytes"');
    expect(html).toMatch(
      /<time datetime="\d{4}-\d{2}-\d{2}T[\d:.]+Z" title="[^"]+">\d{4}-\d{2}-\d{2} \d{2}:\d{2}<\/time>/,
    );
  });

  it('sorts by the column and order its query asks for, and marks it', async () => {
    const dir = join(temp.dir, 'sorted');
    mkdirSync(join(dir, 'folder'), { recursive: true });
    const files: Array<[string, number, number]> = [
      ['b.txt', 300, 1_700_000_300],
      ['a.txt', 200, 1_700_000_100],
      ['C.txt', 100, 1_700_000_200],
    ];
    for (const [name, size, mtime] of files) {
      writeFileSync(join(dir, name), Buffer.alloc(size));
      utimesSync(join(dir, name), mtime, mtime);
    }
    const names = async (query: string) => {
      const html = await (await request(`/sorted/${query}`)).text();
      const rows = html.slice(html.indexOf('<tbody>'));
      return [...rows.matchAll(/<a href="([^"]*)">/g)].map((m) => m[1]!).slice(1);
    };
    expect(await names('')).toEqual(['a.txt', 'b.txt', 'C.txt', 'folder/']);
    expect(await names('?sort=name&order=desc')).toEqual(['folder/', 'C.txt', 'b.txt', 'a.txt']);
    expect(await names('?sort=size')).toEqual(['folder/', 'C.txt', 'a.txt', 'b.txt']);
    expect(await names('?sort=size&order=desc')).toEqual(['b.txt', 'a.txt', 'C.txt', 'folder/']);
    expect((await names('?sort=modified')).slice(0, 3)).toEqual(['a.txt', 'C.txt', 'b.txt']);
    expect(await names('?sort=nonsense&order=up')).toEqual(['a.txt', 'b.txt', 'C.txt', 'folder/']);
    const html = await (await request('/sorted/?sort=size&order=desc')).text();
    expect(html).toContain(
      '<th aria-sort="descending"><a href="?sort=size&amp;order=asc">Size \u25bc</a></th>',
    );
    expect(html).toContain('<th><a href="?sort=name&amp;order=asc">Name</a></th>');
  });

  it('has breadcrumbs to each folder above, and names the time zone of its times', async () => {
    mkdirSync(join(temp.dir, 'one', 'two & three'), { recursive: true });
    const html = await (await request('/one/two%20%26%20three/')).text();
    expect(html).toContain(
      '<h1>Directory listing for <span class="crumbs"><a href="../../">/</a><a href="../">one</a>/' +
        '<a href="./">two &amp; three</a>/</span></h1>',
    );
    expect(html).toContain('<title>Directory listing for /one/two &amp; three/</title>');
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    expect(html).toContain(`Last modified</a> (<span id="zone">${zone}</span>)`);
    expect(html).toContain('@media (prefers-color-scheme:dark)');
  });

  it('the root listing has no parent link', async () => {
    const html = await (await request('/')).text();
    expect(html).toContain('Directory listing for /');
    expect(html).not.toContain('href="../"');
  });
});

describe('error pages (hole 8)', () => {
  it('are styled like the listing: the same style sheet, the message escaped', async () => {
    const listing = await (await request('/')).text();
    const style = /<style>\n([^<]*)\n<\/style>/.exec(listing)![1]!;
    expect(style).toContain('font-family:system-ui');
    for (const path of ['/missing-<b>', '/%zz']) {
      const response = await request(path);
      expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
      const page = await response.text();
      expect(page).toContain(`<style>\n${style}\n</style>`);
      expect(page).toMatch(/<h1>Error response<\/h1>\n<p>Error code: (404|400)<\/p>/);
      expect(page).not.toContain('<b>');
    }
  });
});

describe('types and validators', () => {
  it('MIME types come from mime-types, text ones with a charset', async () => {
    const dir = join(temp.dir, 'types');
    mkdirSync(dir);
    const files: Record<string, string> = {
      'a.html': 'text/html; charset=utf-8',
      'a.css': 'text/css; charset=utf-8',
      'a.json': 'application/json; charset=utf-8',
      'a.png': 'image/png',
      'a.txt': 'text/plain; charset=utf-8',
      'a.unknownext': 'application/octet-stream',
    };
    for (const name of Object.keys(files)) writeFileSync(join(dir, name), 'x');
    for (const [name, type] of Object.entries(files)) {
      expect((await request(`/types/${name}`)).headers.get('content-type'), name).toBe(type);
    }
  });

  it('a strong ETag gives 304 with If-None-Match, and changes with the file', async () => {
    const file = join(temp.dir, 'etag.txt');
    writeFileSync(file, 'one');
    const first = await request('/etag.txt');
    const etag = first.headers.get('etag')!;
    expect(etag).toMatch(/^"[0-9a-f-]+"$/);
    expect((await request('/etag.txt', { headers: { 'If-None-Match': etag } })).status).toBe(304);
    expect(
      (await request('/etag.txt', { headers: { 'If-None-Match': `"x", W/${etag}` } })).status,
    ).toBe(304);
    const notModified = await request('/etag.txt', { headers: { 'If-None-Match': etag } });
    expect(notModified.headers.get('etag')).toBe(etag);
    expect(notModified.headers.get('last-modified')).toBe(first.headers.get('last-modified'));
    writeFileSync(file, 'three');
    utimesSync(file, 1_800_000_000, 1_800_000_000);
    const changed = await request('/etag.txt', { headers: { 'If-None-Match': etag } });
    expect(changed.status).toBe(200);
    expect(await changed.text()).toBe('three');
  });

  it('If-Match and If-Unmodified-Since failures give 412', async () => {
    writeFileSync(join(temp.dir, 'pre.txt'), 'pre');
    expect((await request('/pre.txt', { headers: { 'If-Match': '"nope"' } })).status).toBe(412);
    const etag = (await request('/pre.txt')).headers.get('etag')!;
    expect((await request('/pre.txt', { headers: { 'If-Match': etag } })).status).toBe(200);
    const past = new Date(0).toUTCString();
    expect((await request('/pre.txt', { headers: { 'If-Unmodified-Since': past } })).status).toBe(
      412,
    );
  });

  it('the ETag reveals no inode: copies with the same size and time have the same tag (hole 7)', async () => {
    const one = join(temp.dir, 'copy-one.txt');
    const two = join(temp.dir, 'copy-two.txt');
    writeFileSync(one, 'same bytes');
    writeFileSync(two, 'same bytes');
    utimesSync(one, 1_700_000_000.25, 1_700_000_000.25);
    utimesSync(two, 1_700_000_000.25, 1_700_000_000.25);
    expect(statSync(one).ino).not.toBe(statSync(two).ino);
    const tagOne = (await request('/copy-one.txt')).headers.get('etag')!;
    const tagTwo = (await request('/copy-two.txt')).headers.get('etag')!;
    expect(tagOne).toBe(tagTwo);
    expect(tagOne).not.toContain(statSync(one).ino.toString(16));
    expect(tagOne).toBe(`"${(10).toString(16)}-${(1_700_000_000_250_000).toString(16)}"`);
  });

  it('Content-Length is right for a file larger than the streaming threshold', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
    writeFileSync(join(temp.dir, 'big.bin'), big);
    const response = await request('/big.bin');
    expect(response.headers.get('content-length')).toBe(String(big.length));
    expect(Buffer.from(await response.arrayBuffer()).equals(big)).toBe(true);
  });
});
