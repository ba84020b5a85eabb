/**
 * `Cache-Control` for files: a lifetime for every file, and a year with
 * `immutable` for names that carry a hash of their content.
 *
 * @module
 */

/**
 * The default rule for names that carry a hash of their content, as
 * bundlers write them, right before the extension, after a `.` or `-`:
 *
 * - 8 or more hexadecimal digits with at least one digit and one letter
 *   (webpack `[contenthash]`, Parcel, Angular, Next.js): `main.3f2a9c1b.js`;
 * - exactly 8 characters of base64url with a digit, a lower-case and an
 *   upper-case letter (Rollup and Vite): `index-B4x_kQ9a.js`;
 * - exactly 8 characters of base32, upper-case letters and digits 2-7 with
 *   at least one of each (esbuild): `chunk-5GQJ3HFS.js`.
 *
 * Words and dates do not match (`jquery-3.7.1.min.js`, `report-20240101.pdf`,
 * `font-awesome4.css`); a hash that happens to lack a digit or a letter is
 * missed, which only costs a revalidation.
 */
export const HASHED_NAME =
  '[.-](?:(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{8,}' +
  '|(?=[\\w-]{0,7}[0-9])(?=[\\w-]{0,7}[a-z])(?=[\\w-]{0,7}[A-Z])[\\w-]{8}' +
  '|(?=[A-Z2-7]{0,7}[2-7])(?=[A-Z2-7]{0,7}[A-Z])[A-Z2-7]{8})\\.[^.]+$';

/** A year: how long `immutable` responses may be kept (RFC 9111 §5.2.2.1's advice for "never expires"). */
export const IMMUTABLE_MAX_AGE = 31_536_000;

/**
 * The `Cache-Control` of a file named `name`, or null for none:
 *
 * - `maxAge` null: none (caches use the validators, as Python's server does);
 * - a name matching `immutableNames` (a regular expression's source):
 *   `public, max-age=31536000, immutable`;
 * - `maxAge` 0: `no-cache` (kept, but revalidated before each use);
 * - otherwise `public, max-age=<maxAge>`.
 */
export function fileCacheControl(
  name: string,
  maxAge: number | null,
  immutableNames: RegExp | null,
): string | null {
  if (maxAge === null) return null;
  if (immutableNames?.test(name)) return `public, max-age=${IMMUTABLE_MAX_AGE}, immutable`;
  return maxAge === 0 ? 'no-cache' : `public, max-age=${Math.floor(maxAge)}`;
}
