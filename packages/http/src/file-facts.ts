/**
 * What a response says about a file: its validators (`ETag`,
 * `Last-Modified`) and its type.
 *
 * @module
 */
import type { Stats } from 'node:fs';
import mime from 'mime-types';

/** The response fields of a file; `body` holds its bytes when they are in memory. */
export interface FileFacts {
  readonly size: number;
  readonly etag: string;
  /** Modification time in whole seconds, in ms (what `Last-Modified` says). */
  readonly mtime: number;
  readonly lastModified: string;
  readonly contentType: string;
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

/** A file's response fields from its `fstat` and its type. */
export function fileFacts(st: Stats, contentType: string): FileFacts {
  const mtime = Math.floor(st.mtimeMs / 1000) * 1000;
  return {
    size: st.size,
    etag: entityTag(st),
    mtime,
    lastModified: new Date(mtime).toUTCString(),
    contentType,
    body: null,
  };
}
