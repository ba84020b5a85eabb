/**
 * Request targets to path segments, strictly: the first line of defence
 * against reading outside the served root.
 *
 * @module
 */
import { encodeSegment } from './escape.js';
import { HTTPError } from './http-error.js';

/** A request target split into decoded path segments and the raw query. */
export interface ParsedTarget {
  /** The decoded segments (raw bytes), empty segments removed: `/a//b/` gives `a`, `b`. */
  segments: Buffer[];
  /** Whether the path ended with `/` (or was `/`). */
  trailingSlash: boolean;
  /** The query with its `?`, or `''`. Only visible ASCII: it was checked with the request line. */
  query: string;
}

const ABSOLUTE_FORM = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/;
const HEX = /^[0-9A-Fa-f]{2}$/;

/**
 * Parses an origin-form (`/path?query`) or absolute-form
 * (`http://host/path?query`; only the path and query are used) target.
 *
 * Throws a 400 {@link HTTPError} for: any other form (including a path
 * without a leading `/`), a `#`, a `%` not followed by two hex digits, a
 * decoded segment that is `.` or `..` or that contains `/`, `\`, NUL or
 * another control character, and overlong UTF-8 (`%C0%AE` and friends).
 * Raw bytes above 0x7F are taken as they are (as if percent-encoded).
 */
export function parseTarget(target: string): ParsedTarget {
  let rest = target;
  const absolute = ABSOLUTE_FORM.exec(rest);
  if (absolute) {
    const scheme = absolute[0].slice(0, absolute[0].indexOf(':')).toLowerCase();
    if (scheme !== 'http' && scheme !== 'https') throw new HTTPError(400, 'Unsupported URI scheme');
    rest = rest.slice(absolute[0].length);
    if (rest === '' || rest[0] === '?') rest = `/${rest}`;
  }
  if (rest[0] !== '/') throw new HTTPError(400, 'The request target must start with /');
  if (rest.includes('#')) throw new HTTPError(400, 'A request target cannot hold a fragment');
  const q = rest.indexOf('?');
  const path = q < 0 ? rest : rest.slice(0, q);
  const query = q < 0 ? '' : rest.slice(q);
  const segments: Buffer[] = [];
  for (const raw of path.split('/')) {
    if (raw === '') continue;
    const segment = decodeSegment(raw);
    checkSegment(segment);
    segments.push(segment);
  }
  return { segments, trailingSlash: path.endsWith('/'), query };
}

/** Percent-decodes one segment to bytes (latin-1 text in, so raw bytes keep their value). */
export function decodeSegment(raw: string): Buffer {
  const out = Buffer.allocUnsafe(raw.length);
  let n = 0;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x25) {
      const hex = raw.slice(i + 1, i + 3);
      if (!HEX.test(hex)) throw new HTTPError(400, 'Invalid percent-encoding in the path');
      out[n++] = Number.parseInt(hex, 16);
      i += 2;
    } else {
      out[n++] = c & 0xff;
    }
  }
  return out.subarray(0, n);
}

function checkSegment(segment: Buffer): void {
  if (
    (segment.length === 1 && segment[0] === 0x2e) ||
    (segment.length === 2 && segment[0] === 0x2e && segment[1] === 0x2e)
  ) {
    throw new HTTPError(400, 'Dot segments are not accepted in the path');
  }
  for (let i = 0; i < segment.length; i++) {
    const b = segment[i]!;
    if (b === 0x2f || b === 0x5c)
      throw new HTTPError(400, 'Encoded slash or backslash in the path');
    if (b < 0x20 || b === 0x7f) throw new HTTPError(400, 'Control character in the path');
    const next = segment[i + 1] ?? 0;
    // Overlong UTF-8: C0/C1 leads, E0 followed by 80-9F, F0 followed by 80-8F.
    if (b === 0xc0 || b === 0xc1 || (b === 0xe0 && next < 0xa0 && next >= 0x80)) {
      throw new HTTPError(400, 'Overlong UTF-8 in the path');
    }
    if (b === 0xf0 && next >= 0x80 && next < 0x90) {
      throw new HTTPError(400, 'Overlong UTF-8 in the path');
    }
  }
}

/** The canonical path of segments, percent-encoded: always one leading `/`, never `//`. */
export function canonicalPath(segments: readonly Uint8Array[], trailingSlash: boolean): string {
  const path = `/${segments.map(encodeSegment).join('/')}`;
  return trailingSlash && segments.length > 0 ? `${path}/` : path;
}
