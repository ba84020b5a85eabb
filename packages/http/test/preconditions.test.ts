/** The pure precondition and validator functions (RFC 9110 §13, §8.8). */
import { describe, expect, it } from 'vitest';
import { entityTag } from '../src/file-facts.js';
import { Headers } from '../src/headers.js';
import { evaluatePreconditions, tagList } from '../src/preconditions.js';

const etag = '"3-1"';
const mtime = 1_700_000_000_000;
const at = (offset: number) => new Date(mtime + offset).toUTCString();

function evaluate(entries: Record<string, string>): number {
  const headers = new Headers();
  for (const [name, value] of Object.entries(entries)) headers.append(name, value);
  return evaluatePreconditions(headers, etag, mtime);
}

describe('evaluatePreconditions', () => {
  it.each([
    [{}, 0],
    [{ 'If-Match': etag }, 0],
    [{ 'If-Match': '*' }, 0],
    [{ 'If-Match': '"x", "3-1"' }, 0],
    [{ 'If-Match': '"x"' }, 412],
    [{ 'If-Match': `W/${etag}` }, 412],
    [{ 'If-Unmodified-Since': at(0) }, 0],
    [{ 'If-Unmodified-Since': at(-1000) }, 412],
    [{ 'If-Unmodified-Since': 'not a date' }, 0],
    [{ 'If-Match': etag, 'If-Unmodified-Since': at(-1000) }, 0],
    [{ 'If-None-Match': etag }, 304],
    [{ 'If-None-Match': `W/${etag}` }, 304],
    [{ 'If-None-Match': '*' }, 304],
    [{ 'If-None-Match': '"x"' }, 0],
    [{ 'If-None-Match': '"x"', 'If-Modified-Since': at(0) }, 0],
    [{ 'If-Modified-Since': at(0) }, 304],
    [{ 'If-Modified-Since': at(3600_000) }, 304],
    [{ 'If-Modified-Since': at(-1000) }, 0],
    [{ 'If-Modified-Since': 'garbage' }, 0],
    [{ 'If-Match': '"x"', 'If-None-Match': etag }, 412],
  ])('%j gives %i', (entries, status) => {
    expect(evaluate(entries)).toBe(status);
  });
});

describe('validators', () => {
  it('tagList splits entity tags, weak ones and *', () => {
    expect(tagList('"a", W/"b",*, "c,d"')).toEqual(['"a"', 'W/"b"', '*', '"c,d"']);
    expect(tagList('')).toEqual([]);
  });

  it('entityTag: size and modification time in µs, hex; no inode', () => {
    expect(entityTag({ size: 1024, mtimeMs: 1_700_000_000_123.456 })).toBe(
      `"400-${(1_700_000_000_123_456).toString(16)}"`,
    );
  });
});
