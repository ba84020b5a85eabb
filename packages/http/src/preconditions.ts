/**
 * Conditional requests (RFC 9110 §13): pure functions of the request's
 * fields and the file's validators.
 *
 * @module
 */

/** Reads a request field (a `Headers`, or any lookup). */
export interface FieldSource {
  get(name: string): string | undefined;
}

/** Splits an `If-Match`/`If-None-Match` list into entity tags (and `*`). */
export function tagList(value: string): string[] {
  return value.match(/(?:W\/)?"[^"]*"|\*/g) ?? [];
}

/**
 * Evaluates the preconditions in RFC 9110 §13.2.2's order: `If-Match` (strong
 * comparison) or else `If-Unmodified-Since` failing gives 412; then
 * `If-None-Match` (weak comparison, `*` included) matching gives 304, and
 * when it is present `If-Modified-Since` is ignored; otherwise
 * `If-Modified-Since` at or after the modification time gives 304. 0: go on.
 *
 * @param etag - the file's strong entity tag.
 * @param mtime - its modification time in whole seconds, in ms.
 */
export function evaluatePreconditions(
  fields: FieldSource,
  etag: string,
  mtime: number,
): 0 | 304 | 412 {
  const ifMatch = fields.get('if-match');
  if (ifMatch !== undefined) {
    const tags = tagList(ifMatch);
    if (!tags.includes('*') && !tags.includes(etag)) return 412;
  } else {
    const since = parseDate(fields.get('if-unmodified-since'));
    if (!Number.isNaN(since) && mtime > since) return 412;
  }
  const ifNoneMatch = fields.get('if-none-match');
  if (ifNoneMatch !== undefined) {
    const tags = tagList(ifNoneMatch).map((tag) => (tag.startsWith('W/') ? tag.slice(2) : tag));
    return tags.includes('*') || tags.includes(etag) ? 304 : 0;
  }
  const since = parseDate(fields.get('if-modified-since'));
  return !Number.isNaN(since) && mtime <= since ? 304 : 0;
}

/**
 * Whether `If-Range` lets a `Range` apply (RFC 9110 §13.1.5): absent, the
 * current strong entity tag, or exactly the `Last-Modified` date.
 */
export function ifRangeHolds(fields: FieldSource, etag: string, mtime: number): boolean {
  const ifRange = fields.get('if-range');
  if (ifRange === undefined) return true;
  if (ifRange.startsWith('"')) return ifRange === etag;
  return !ifRange.startsWith('W/') && Date.parse(ifRange) === mtime;
}

function parseDate(value: string | undefined): number {
  return value === undefined ? Number.NaN : Date.parse(value);
}
