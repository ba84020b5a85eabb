/**
 * Byte ranges (RFC 9110 §14): pure functions from a `Range` field and a
 * representation's length to the bytes to send.
 *
 * @module
 */
import { type FieldSource, ifRangeHolds } from './preconditions.js';

/** One range of bytes, both ends included. */
export interface ByteRange {
  start: number;
  end: number;
}

/** What a `Range` asks of a representation: ranges to send, `UNSATISFIABLE` (416), or null (send it whole). */
export type RangeAnswer = ByteRange[] | typeof UNSATISFIABLE | null;

/** A `Range` none of whose ranges overlaps the representation: answered with 416. */
export const UNSATISFIABLE = 'unsatisfiable';

const INT_RANGE = /^(\d+)-(\d*)$/;
const SUFFIX_RANGE = /^-(\d+)$/;

/**
 * Parses a `Range` field value against a representation of `size` bytes
 * (RFC 9110 §14.1): `bytes=` (the unit case-insensitive) then a
 * comma-separated list of `first-last`, `first-` or `-suffix`, with
 * optional whitespace around the commas.
 *
 * - A last position past the end is the end; a suffix longer than the
 *   representation is all of it (§14.1.2).
 * - Ranges that start past the end are dropped; when none is left the
 *   answer is {@link UNSATISFIABLE} (§14.1.2, §15.5.17). For an empty
 *   representation a non-zero suffix is satisfiable: it is sent whole.
 * - Overlapping and adjacent ranges are merged (§14.3 allows it), kept in
 *   the order they were asked for.
 * - Another unit, or a malformed list (a reversed range, a stray
 *   character, no range at all), gives null: the field is ignored, as §14.2
 *   lets a server do, and the whole representation is sent.
 */
export function parseRange(value: string, size: number): RangeAnswer {
  const equals = value.indexOf('=');
  if (equals < 0 || value.slice(0, equals).toLowerCase() !== 'bytes') return null;
  const ranges: ByteRange[] = [];
  let specs = 0;
  let emptySuffix = false;
  for (const element of value.slice(equals + 1).split(',')) {
    const spec = element.replace(/^[ \t]+|[ \t]+$/g, '');
    if (spec === '') continue;
    specs++;
    const suffix = SUFFIX_RANGE.exec(spec);
    if (suffix !== null) {
      const length = Number(suffix[1]);
      if (length === 0) continue;
      if (size === 0) emptySuffix = true;
      else ranges.push({ start: Math.max(0, size - length), end: size - 1 });
      continue;
    }
    const int = INT_RANGE.exec(spec);
    if (int === null) return null;
    const first = Number(int[1]);
    const last = int[2] === '' ? Number.POSITIVE_INFINITY : Number(int[2]);
    if (last < first) return null;
    if (first < size) ranges.push({ start: first, end: Math.min(last, size - 1) });
  }
  if (specs === 0) return null;
  if (ranges.length === 0) return emptySuffix ? null : UNSATISFIABLE;
  return mergeRanges(ranges);
}

/**
 * Merges overlapping and adjacent ranges; the merged ranges keep the order
 * of the first range each one absorbed.
 */
export function mergeRanges(ranges: readonly ByteRange[]): ByteRange[] {
  const ordered = ranges
    .map((range, index) => ({ start: range.start, end: range.end, index }))
    .sort((a, b) => a.start - b.start);
  const merged: typeof ordered = [];
  for (const range of ordered) {
    const last = merged[merged.length - 1];
    if (last !== undefined && range.start <= last.end + 1) {
      last.end = Math.max(last.end, range.end);
      last.index = Math.min(last.index, range.index);
    } else {
      merged.push(range);
    }
  }
  return merged.sort((a, b) => a.index - b.index).map(({ start, end }) => ({ start, end }));
}

/**
 * The ranges to send for a request: null (whole) without one `Range`
 * field, when `If-Range` does not hold, for a field {@link parseRange}
 * ignores, or for more than `maxRanges` ranges after merging.
 */
export function selectRanges(
  fields: FieldSource & { getAll(name: string): string[] },
  size: number,
  etag: string,
  mtime: number,
  maxRanges: number,
): RangeAnswer {
  const values = fields.getAll('range');
  if (values.length !== 1 || !ifRangeHolds(fields, etag, mtime)) return null;
  const answer = parseRange(values[0]!, size);
  return Array.isArray(answer) && answer.length > maxRanges ? null : answer;
}
