/**
 * What a response says about a file: its validators (`ETag`,
 * `Last-Modified`) and its type.
 *
 * @module
 */
import type { Stats } from 'node:fs';
import mime from 'mime-types';

/**
 * The response fields of a file, or of one of its encoded forms; `body`
 * holds its bytes when they are in memory.
 */
export interface FileFacts {
  /** The size of the bytes sent (the encoded ones for an encoded form). */
  readonly size: number;
  readonly etag: string;
  /** Modification time in whole seconds, in ms (what `Last-Modified` says). */
  readonly mtime: number;
  readonly lastModified: string;
  readonly contentType: string;
  /** The content coding of the bytes (`br`, `gzip`), or `''` for the file as it is. */
  readonly encoding: string;
  /** Further header lines for this file (`Cache-Control`, `Vary`, ...), each ending in CRLF, or `''`. */
  readonly fields: string;
  readonly body: Buffer | null;
}

/**
 * A strong entity tag from the size and the modification time (to the
 * microsecond where the file system keeps it), as nginx makes them: it
 * changes whenever the file does, and tells nothing of the file system
 * (no inode number), so replicas that hold the same file give the same tag.
 */
export function entityTag(st: Pick<Stats, 'size' | 'mtimeMs'>): string {
  return `"${st.size.toString(16)}-${Math.round(st.mtimeMs * 1000).toString(16)}"`;
}

/** The type of a file from its name (`mime-types`: charset on text types), `application/octet-stream` when unknown. */
export function guessType(name: string): string {
  return mime.contentType(name) || 'application/octet-stream';
}

/** A file's response fields from its `fstat`, its type and further header lines. */
export function fileFacts(st: Stats, contentType: string, fields = ''): FileFacts {
  const mtime = Math.floor(st.mtimeMs / 1000) * 1000;
  return {
    size: st.size,
    etag: entityTag(st),
    mtime,
    lastModified: new Date(mtime).toUTCString(),
    contentType,
    encoding: '',
    fields,
    body: null,
  };
}
