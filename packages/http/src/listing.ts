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

/** The listing's columns, by the `sort` query parameter's values. */
export type ListingSort = 'name' | 'size' | 'modified';

/** How a listing is ordered: a column and a direction. */
export interface ListingOrder {
  sort: ListingSort;
  descending: boolean;
}

/**
 * The order a listing's query asks for: `?sort=name|size|modified` and
 * `&order=asc|desc` (default: by name, ascending; anything else is ignored).
 */
export function listingOrder(query: string): ListingOrder {
  const params = new URLSearchParams(query);
  const asked = params.get('sort');
  const sort: ListingSort = asked === 'size' || asked === 'modified' ? asked : 'name';
  return { sort, descending: params.get('order') === 'desc' };
}

/**
 * Sorts entries by name as Python's `list_directory` does
 * (case-insensitively), with a byte-wise tie break so the order is total;
 * or by size (folders before files) or modification time, ties by name;
 * `descending` reverses the whole order.
 */
export function sortEntries(
  entries: ListingEntry[],
  order: ListingOrder = { sort: 'name', descending: false },
): ListingEntry[] {
  const keyed = entries.map((entry) => ({ entry, key: displayName(entry.name).toLowerCase() }));
  const byName = (a: (typeof keyed)[number], b: (typeof keyed)[number]) =>
    a.key < b.key ? -1 : a.key > b.key ? 1 : Buffer.compare(a.entry.name, b.entry.name);
  const column =
    order.sort === 'size'
      ? (e: ListingEntry) => (e.directory ? -1 : e.size)
      : order.sort === 'modified'
        ? (e: ListingEntry) => e.mtimeMs
        : () => 0;
  keyed.sort((a, b) => column(a.entry) - column(b.entry) || byName(a, b));
  if (order.descending) keyed.reverse();
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

/** A time in the server's time zone, to the minute: `2026-12-07 09:41`. */
export function formatLocalTime(ms: number): string {
  const date = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, '0');
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}`
  );
}

/** The server's time zone, by its IANA name (`Europe/Paris`; `UTC` when none is set). */
export function localZoneName(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

/**
 * Rewrites each time, and the zone in the column's heading, in the
 * reader's own time zone (the page shows the server's without scripts).
 */
const LOCAL_TIMES =
  '<script>(()=>{const p=(n)=>String(n).padStart(2,"0");' +
  'for(const t of document.querySelectorAll("time[datetime]")){const d=new Date(t.dateTime);' +
  't.textContent=d.getFullYear()+"-"+p(d.getMonth()+1)+"-"+p(d.getDate())+" "+p(d.getHours())+":"+p(d.getMinutes())}' +
  'const z=document.getElementById("zone");' +
  'if(z)z.textContent=Intl.DateTimeFormat().resolvedOptions().timeZone||z.textContent})()</script>\n';

const COLUMNS: ReadonlyArray<readonly [ListingSort, string]> = [
  ['name', 'Name'],
  ['size', 'Size'],
  ['modified', 'Last modified'],
];

/** A column heading: a link that sorts by it (the other way round when it already does). */
function columnHeading(column: ListingSort, label: string, order: ListingOrder): string {
  const current = order.sort === column;
  const descending = current && !order.descending;
  const href = `?sort=${column}&amp;order=${descending ? 'desc' : 'asc'}`;
  const mark = current ? (order.descending ? ' \u25bc' : ' \u25b2') : '';
  const sorted = current ? ` aria-sort="${order.descending ? 'descending' : 'ascending'}"` : '';
  const zone =
    column === 'modified' ? ` (<span id="zone">${escapeHtml(localZoneName())}</span>)` : '';
  return `<th${sorted}><a href="${href}">${label}${mark}</a>${zone}</th>`;
}

/**
 * The heading with breadcrumbs: `Directory listing for /a/b/`, where `/`,
 * `a` and `b` are relative links to those folders (relative, so the page
 * works behind a proxy that mounts it under a prefix).
 */
function breadcrumbs(segments: readonly string[]): string {
  const depth = segments.length;
  const up = (levels: number) => (levels === 0 ? './' : '../'.repeat(levels));
  let crumbs = `<a href="${up(depth)}">/</a>`;
  segments.forEach((segment, i) => {
    crumbs += `<a href="${up(depth - i - 1)}">${escapeHtml(segment)}</a>/`;
  });
  return `Directory listing for <span class="crumbs">${crumbs}</span>`;
}

/**
 * Renders the listing page: breadcrumbs, a parent link unless at the root,
 * and a table of names (escaped; links percent-encoded byte by byte, so
 * names with spaces, `#`, `?`, `%`, `:` or any byte work), sizes (exact
 * bytes in the `title` attribute) and modification times (the server's
 * local time, its zone named in the heading; a few lines of script show
 * them in the reader's zone), sortable by each column through the query.
 *
 * @param segments - the directory's path segments as shown (decoded, not escaped).
 * @param entries - the rows, already sorted as `order` says.
 * @param order - the order of the rows, marked in the headings.
 * @param omitted - how many entries were left out past the listing cap.
 */
export function renderListing(
  segments: readonly string[],
  entries: readonly ListingEntry[],
  order: ListingOrder,
  omitted = 0,
): string {
  const rows: string[] = [];
  if (segments.length > 0) rows.push('<tr><td><a href="../">../</a></td><td></td><td></td></tr>');
  for (const entry of entries) {
    const suffix = entry.directory ? '/' : entry.symlink ? '@' : '';
    const href = `${encodeSegment(entry.name)}${entry.directory ? '/' : ''}`;
    const size = entry.directory
      ? '<td class="size">-</td>'
      : `<td class="size" title="${entry.size} bytes">${formatSize(entry.size)}</td>`;
    const iso = new Date(entry.mtimeMs).toISOString();
    rows.push(
      `<tr><td><a href="${href}">${escapeHtml(displayName(entry.name))}${suffix}</a></td>${size}` +
        `<td><time datetime="${iso}" title="${iso}">${formatLocalTime(entry.mtimeMs)}</time></td></tr>`,
    );
  }
  const more = omitted > 0 ? `<p>${omitted} more entries not shown.</p>\n` : '';
  const headings = COLUMNS.map(([column, label]) => columnHeading(column, label, order)).join('');
  const path = `/${segments.map((segment) => `${segment}/`).join('')}`;
  return htmlPage(
    `Directory listing for ${path}`,
    `<hr>\n<table>\n<thead><tr>${headings}</tr></thead>\n` +
      `<tbody>\n${rows.join('\n')}\n</tbody>\n</table>\n${more}<hr>\n${LOCAL_TIMES}`,
    breadcrumbs(segments),
  );
}
