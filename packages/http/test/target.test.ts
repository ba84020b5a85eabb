/** Unit tests of the request-target rules and helpers. */
import { describe, expect, it } from 'vitest';
import { encodeSegment, escapeHtml } from '../src/escape.js';
import { HTTPError } from '../src/index.js';
import { formatSize } from '../src/listing.js';
import { isInside } from '../src/open-inside.js';
import { canonicalPath, parseTarget } from '../src/target.js';

const segments = (target: string) => parseTarget(target).segments.map((s) => s.toString('latin1'));

describe('parseTarget', () => {
  it('splits, decodes and drops empty segments', () => {
    expect(segments('/a//b/%20c/')).toEqual(['a', 'b', ' c']);
    expect(parseTarget('/a/').trailingSlash).toBe(true);
    expect(parseTarget('/a').trailingSlash).toBe(false);
    expect(parseTarget('/a?x=/../y').query).toBe('?x=/../y');
    expect(segments('/a?x=/../y')).toEqual(['a']);
    expect(segments('http://h:80/p?q')).toEqual(['p']);
    expect(segments('/%C3%A9')).toEqual(['\xc3\xa9']);
  });

  it.each([
    '/..',
    '/a/../b',
    '/%2e',
    '/%2E%2e',
    '/a%2fb',
    '/a%5Cb',
    '/a\\b',
    '/%00',
    '/%1f',
    '/%7f',
    '/%',
    '/%g0',
    '/%c0%ae',
    '/%e0%80%ae',
    '/%f0%80%80%ae',
    '',
    'a',
    '*',
    'ftp://h/a',
    '/a#b',
  ])('%j is a 400', (target) => {
    let error: unknown;
    try {
      parseTarget(target);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(HTTPError);
    expect((error as HTTPError).status).toBe(400);
  });

  it('keeps bytes that are not overlong UTF-8, such as a lone 0xFF', () => {
    expect(parseTarget('/%FF').segments[0]).toEqual(Buffer.from([0xff]));
    expect(parseTarget('/%e2%82%ac').segments[0]).toEqual(Buffer.from('€'));
  });
});

describe('helpers', () => {
  it('canonicalPath never starts with //', () => {
    expect(canonicalPath([Buffer.from('evil.example')], true)).toBe('/evil.example/');
    expect(canonicalPath([], true)).toBe('/');
    expect(canonicalPath([Buffer.from('a b'), Buffer.from('c')], false)).toBe('/a%20b/c');
  });

  it('encodeSegment keeps only unreserved characters', () => {
    expect(encodeSegment(Buffer.from('a-._~Z9 #?%:/"\'<>é'))).toBe(
      'a-._~Z9%20%23%3F%25%3A%2F%22%27%3C%3E%C3%A9',
    );
  });

  it('escapeHtml escapes the five characters', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe(
      '&lt;a href=&quot;x&quot;&gt;&#x27;&amp;&#x27;&lt;/a&gt;',
    );
  });

  it('isInside compares whole path components', () => {
    const root = Buffer.from('/srv/www');
    expect(isInside(root, Buffer.from('/srv/www'))).toBe(true);
    expect(isInside(root, Buffer.from('/srv/www/a'))).toBe(true);
    expect(isInside(root, Buffer.from('/srv/www2/a'))).toBe(false);
    expect(isInside(root, Buffer.from('/srv'))).toBe(false);
    expect(isInside(Buffer.from('/'), Buffer.from('/etc'))).toBe(true);
  });

  it('formatSize', () => {
    expect(formatSize(0)).toBe('0 B');
    expect(formatSize(1023)).toBe('1023 B');
    expect(formatSize(1536)).toBe('1.5 KiB');
    expect(formatSize(10 * 1024 * 1024)).toBe('10.0 MiB');
  });
});
