/**
 * The HTML directory listing: its rows, their order, the page.
 *
 * @module
 */
import { readdir, realpath, stat } from 'node:fs/promises';
import { encodeSegment, escapeHtml } from './escape.js';
import { isInside } from './open-inside.js';
import { htmlPage } from './page.js';

/** One row of a listing. */
export interface ListingEntry {
  /** The name's raw bytes, as the file system has it. */
  name: Buffer;
  /** Whether the entry is a directory (its link ends with `/`). */
  directory: boolean;
  /** Whether the entry is a symbolic link (shown with `@`, as Python does). */
  symlink: boolean;
  /** Size in bytes (files). */
  size: number;
  /** Modification time, ms since the epoch. */
  mtimeMs: number;
}

const SLASH = Buffer.from('/');
/** Entries looked at (`realpath`, `stat`) at once while a listing is read. */
const STAT_BATCH = 32;

/**
 * The entries of the directory `dir` to list: names starting with `.` left
 * out unless `dotfiles`, and entries that cannot be served left out too
 * (links leading outside `root` unless `followSymlinks`, broken links,
 * FIFOs, sockets, devices). Null when the directory cannot be read. Uses
 * the asynchronous calls: a large directory does not stop other requests.
 */
export async function readListingEntries(
  dir: Buffer,
  root: Buffer,
  options: { dotfiles: boolean; followSymlinks: boolean },
): Promise<ListingEntry[] | null> {
  let names: Buffer[];
  try {
    names = (await readdir(dir, { encoding: 'buffer' })) as Buffer[];
  } catch {
    return null;
  }
  if (!options.dotfiles) names = names.filter((name) => name[0] !== 0x2e);
  const entries: ListingEntry[] = [];
  for (let i = 0; i < names.length; i += STAT_BATCH) {
    const batch = names
      .slice(i, i + STAT_BATCH)
      .map((name) => listingEntry(dir, root, name, options));
    for (const entry of await Promise.all(batch)) if (entry) entries.push(entry);
  }
  return entries;
}

async function listingEntry(
  dir: Buffer,
  root: Buffer,
  name: Buffer,
  options: { followSymlinks: boolean },
): Promise<ListingEntry | null> {
  const path = Buffer.concat([dir, SLASH, name]);
  try {
    const real = await realpath(path, { encoding: 'buffer' });
    if (!options.followSymlinks && !isInside(root, real)) return null;
    const st = await stat(real);
    if (!st.isFile() && !st.isDirectory()) return null;
    return {
      name,
      directory: st.isDirectory(),
      symlink: !real.equals(path),
      size: st.size,
      mtimeMs: st.mtimeMs,
    };
  } catch {
    return null;
  }
}

/** Decodes a file name for display: UTF-8, undecodable bytes shown as U+FFFD. */
export function displayName(name: Uint8Array): string {
  return Buffer.from(name).toString('utf8');
}

/**
 * Sorts entries as Python's `list_directory` does (case-insensitively by
 * name), with a byte-wise tie break so the order is total.
 */
export function sortEntries(entries: ListingEntry[]): ListingEntry[] {
  const keyed = entries.map((entry) => ({ entry, key: displayName(entry.name).toLowerCase() }));
  keyed.sort((a, b) =>
    a.key < b.key ? -1 : a.key > b.key ? 1 : Buffer.compare(a.entry.name, b.entry.name),
  );
  return keyed.map(({ entry }) => entry);
}

/** A size for people: bytes below 1 KiB, else KiB, MiB, GiB with one decimal. */
export function formatSize(size: number): string {
  if (size < 1024) return `${size} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = size / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

function formatTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/**
 * Renders the listing page: title, a parent link unless at the root, and a
 * table of names (escaped; links percent-encoded byte by byte, so names
 * with spaces, `#`, `?`, `%`, `:` or any byte work), sizes (exact bytes in
 * the `title` attribute) and modification times (UTC).
 *
 * @param displayPath - the directory's path as shown (decoded, not escaped).
 * @param entries - the rows, already sorted.
 * @param atRoot - whether to omit the parent link.
 * @param omitted - how many entries were left out past the listing cap.
 */
export function renderListing(
  displayPath: string,
  entries: readonly ListingEntry[],
  atRoot: boolean,
  omitted = 0,
): string {
  const rows: string[] = [];
  if (!atRoot) rows.push('<tr><td><a href="../">../</a></td><td></td><td></td></tr>');
  for (const entry of entries) {
    const suffix = entry.directory ? '/' : entry.symlink ? '@' : '';
    const href = `${encodeSegment(entry.name)}${entry.directory ? '/' : ''}`;
    const size = entry.directory
      ? '<td class="size">-</td>'
      : `<td class="size" title="${entry.size} bytes">${formatSize(entry.size)}</td>`;
    rows.push(
      `<tr><td><a href="${href}">${escapeHtml(displayName(entry.name))}${suffix}</a></td>${size}` +
        `<td>${formatTime(entry.mtimeMs)}</td></tr>`,
    );
  }
  const more = omitted > 0 ? `<p>${omitted} more entries not shown.</p>\n` : '';
  return htmlPage(
    `Directory listing for ${displayPath}`,
    '<hr>\n<table>\n<thead><tr><th>Name</th><th>Size</th><th>Last modified</th></tr></thead>\n' +
      `<tbody>\n${rows.join('\n')}\n</tbody>\n</table>\n${more}<hr>\n`,
  );
}
