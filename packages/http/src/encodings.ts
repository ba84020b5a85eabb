/**
 * Content codings (RFC 9110 §8.4, §12.5.3): which ones a client accepts,
 * which types are worth compressing, and compressing with `node:zlib`.
 *
 * @module
 */
import { promisify } from 'node:util';
import { brotliCompress, constants, gzip } from 'node:zlib';
import compressible from 'compressible';
import Negotiator from 'negotiator';

/** The content codings this package serves, in the order it prefers them when a client ranks them equally. */
export type Encoding = 'br' | 'gzip';

/** The codings served, best first. */
export const ENCODINGS: readonly Encoding[] = ['br', 'gzip'];

/** The file name suffix of a precompressed file beside the original (`app.js.br`, `app.js.gz`). */
export const SUFFIX: Readonly<Record<Encoding, string>> = { br: '.br', gzip: '.gz' };

const OFFERED = [...ENCODINGS, 'identity'];
const NONE: readonly Encoding[] = Object.freeze([]);
/** Answers for the `Accept-Encoding` values seen lately: browsers send a handful of distinct ones. */
const accepted = new Map<string, readonly Encoding[]>();
const ACCEPTED_MEMO = 256;

/**
 * The codings of {@link ENCODINGS} a client accepts, best first, from its
 * `Accept-Encoding` value: quality values honoured (`br;q=0` refuses br,
 * `*` covers the codings not named), equal qualities ranked br before
 * gzip, whatever the client's order. Those ranked below `identity` are left
 * out: the client would rather have the bytes as they are. Parsed by
 * `negotiator`; remembered per value.
 */
export function acceptedEncodings(value: string | undefined): readonly Encoding[] {
  if (value === undefined || value === '') return NONE;
  let answer = accepted.get(value);
  if (answer === undefined) {
    // negotiator 1.x takes the preferred order; its types (0.6) do not say so yet.
    const negotiator = new Negotiator({ headers: { 'accept-encoding': value } }) as Negotiator & {
      encodings(available: readonly string[], options: { preferred: readonly string[] }): string[];
    };
    const ranked = negotiator.encodings(OFFERED, { preferred: OFFERED });
    const identity = ranked.indexOf('identity');
    answer = Object.freeze(
      (identity < 0 ? ranked : ranked.slice(0, identity)).filter(
        (coding): coding is Encoding => coding === 'br' || coding === 'gzip',
      ),
    );
    if (accepted.size >= ACCEPTED_MEMO) accepted.clear();
    accepted.set(value, answer);
  }
  return answer;
}

/**
 * Whether a `Content-Type` is worth compressing: text, JSON, JavaScript,
 * SVG, XML, WebAssembly and the like, by `mime-db`'s `compressible` flag
 * (through `compressible`); images, video, archives and fonts in
 * compressed formats are not, nor `application/octet-stream`, which
 * `mime-db` marks compressible but is what files of unknown type are
 * served as.
 */
export function isCompressible(contentType: string): boolean {
  return !contentType.startsWith('application/octet-stream') && compressible(contentType) === true;
}

const brotli = promisify(brotliCompress);
const gzipAsync = promisify(gzip);

/**
 * Brotli quality for compressing as requests come: 5 of 11, where brotli
 * is still faster than gzip's default and smaller (quality 11, the
 * library's default, takes about 100 times longer; precompress for it).
 */
export const BROTLI_QUALITY = 5;

/** Compresses `body` in libuv's thread pool (the event loop keeps serving meanwhile). */
export function compress(body: Uint8Array, encoding: Encoding, text: boolean): Promise<Buffer> {
  if (encoding === 'gzip') return gzipAsync(body, { level: 6 });
  return brotli(body, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY,
      [constants.BROTLI_PARAM_SIZE_HINT]: body.length,
      [constants.BROTLI_PARAM_MODE]: text
        ? constants.BROTLI_MODE_TEXT
        : constants.BROTLI_MODE_GENERIC,
    },
  });
}
