/** The pure range functions (RFC 9110 §14), without a server. */
import { describe, expect, it } from 'vitest';
import { Headers } from '../src/headers.js';
import { mergeRanges, parseRange, selectRanges, UNSATISFIABLE } from '../src/ranges.js';

describe('parseRange', () => {
  it.each([
    ['bytes=0-4', 36, [{ start: 0, end: 4 }]],
    ['bytes=10-', 36, [{ start: 10, end: 35 }]],
    ['bytes=-5', 36, [{ start: 31, end: 35 }]],
    ['bytes=30-1000', 36, [{ start: 30, end: 35 }]],
    ['bytes=-999', 20, [{ start: 0, end: 19 }]],
    ['bytes=-20', 20, [{ start: 0, end: 19 }]],
    ['BYTES=0-0', 20, [{ start: 0, end: 0 }]],
    [
      'bytes= 0-1 ,\t5-6 ',
      20,
      [
        { start: 0, end: 1 },
        { start: 5, end: 6 },
      ],
    ],
    [
      'bytes=0-1,,5-6',
      20,
      [
        { start: 0, end: 1 },
        { start: 5, end: 6 },
      ],
    ],
    ['bytes=50-60,0-1', 20, [{ start: 0, end: 1 }]],
    [`bytes=0-${'9'.repeat(30)}`, 20, [{ start: 0, end: 19 }]],
  ])('%s of %i bytes', (value, size, ranges) => {
    expect(parseRange(value, size)).toEqual(ranges);
  });

  it.each([
    ['bytes=20-', 20],
    ['bytes=100-200', 20],
    ['bytes=-0', 20],
    ['bytes=0-0', 0],
    ['bytes=20-30,40-', 20],
  ])('%s of %i bytes is unsatisfiable', (value, size) => {
    expect(parseRange(value, size)).toBe(UNSATISFIABLE);
  });

  it('a non-zero suffix of an empty representation is satisfiable: sent whole (null)', () => {
    expect(parseRange('bytes=-5', 0)).toBeNull();
  });

  it.each([
    'bytes',
    'bytes=',
    'bytes= , ',
    'bytes=abc',
    'bytes=--1',
    'bytes=1-2-3',
    'bytes=5-3',
    'bytes=-',
    'bytes=1.5-2',
    'bytes = 2-3',
    'items=0-5',
    'bytes=0-1,x',
  ])('%j is ignored (null)', (value) => {
    expect(parseRange(value, 20)).toBeNull();
  });
});

describe('mergeRanges', () => {
  it('merges overlapping and adjacent ranges, in the order first asked', () => {
    expect(
      mergeRanges([
        { start: 50, end: 55 },
        { start: 0, end: 10 },
        { start: 5, end: 10 },
        { start: 56, end: 60 },
      ]),
    ).toEqual([
      { start: 50, end: 60 },
      { start: 0, end: 10 },
    ]);
  });
});

describe('selectRanges', () => {
  const fields = (entries: Array<[string, string]>) => {
    const headers = new Headers();
    for (const [name, value] of entries) headers.append(name, value);
    return headers;
  };
  const etag = '"a-b"';
  const mtime = 1_700_000_000_000;

  it('no Range, two Range fields, too many ranges: whole', () => {
    expect(selectRanges(fields([]), 10, etag, mtime, 16)).toBeNull();
    const two = fields([
      ['Range', 'bytes=0-1'],
      ['Range', 'bytes=2-3'],
    ]);
    expect(selectRanges(two, 10, etag, mtime, 16)).toBeNull();
    expect(selectRanges(fields([['Range', 'bytes=0-0,2-2,4-4']]), 10, etag, mtime, 2)).toBeNull();
  });

  it('If-Range: the strong tag or the exact date keeps the range', () => {
    const date = new Date(mtime).toUTCString();
    for (const [ifRange, kept] of [
      [etag, true],
      [date, true],
      ['"other"', false],
      [`W/${etag}`, false],
      [new Date(mtime - 1000).toUTCString(), false],
    ] as const) {
      const answer = selectRanges(
        fields([
          ['Range', 'bytes=0-1'],
          ['If-Range', ifRange],
        ]),
        10,
        etag,
        mtime,
        16,
      );
      expect(answer, ifRange).toEqual(kept ? [{ start: 0, end: 1 }] : null);
    }
  });
});
