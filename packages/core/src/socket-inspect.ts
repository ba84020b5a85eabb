/**
 * What kind of socket a file descriptor is, and the path a Unix socket is
 * bound to, read from Linux's `/proc` (Node has no `getsockopt(SO_TYPE)` or
 * `getsockname` for a bare descriptor). Elsewhere the kind is `unknown`.
 *
 * @module
 */
import { readFileSync, readlinkSync } from 'node:fs';

/** A socket's kind, as the transports name them. */
export type SocketKind = 'tcp' | 'udp' | 'unix' | 'unix-dgram' | 'unknown';

/** What `/proc` says about a socket. */
export interface SocketFacts {
  kind: SocketKind;
  /** IPv6 (`tcp6`, `udp6` tables), for IP sockets. */
  ipv6: boolean;
  /** A Unix socket's bound path (`'\0name'` for an abstract one), or `''` when unbound. */
  path: string;
  /** Whether a stream socket is listening (`SO_ACCEPTCON` / state LISTEN). */
  listening: boolean;
}

const UNKNOWN: SocketFacts = { kind: 'unknown', ipv6: false, path: '', listening: false };

/** Facts about the socket open as `fd` in this process; `kind` `unknown` when not a socket or not on Linux. */
export function inspectSocket(fd: number): SocketFacts {
  const inode = socketInode(fd);
  if (inode === null) return UNKNOWN;
  return inetFacts(inode) ?? unixFacts(inode) ?? UNKNOWN;
}

function socketInode(fd: number): string | null {
  try {
    return /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1] ?? null;
  } catch {
    return null;
  }
}

const INET_TABLES = [
  ['tcp', 'tcp', false],
  ['tcp6', 'tcp', true],
  ['udp', 'udp', false],
  ['udp6', 'udp', true],
] as const;

/** TCP state LISTEN in `/proc/net/tcp{,6}`. */
const TCP_LISTEN = '0A';

function inetFacts(inode: string): SocketFacts | null {
  for (const [table, kind, ipv6] of INET_TABLES) {
    for (const fields of rows(`/proc/net/${table}`)) {
      // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
      if (fields[9] === inode) {
        return { kind, ipv6, path: '', listening: kind === 'tcp' && fields[3] === TCP_LISTEN };
      }
    }
  }
  return null;
}

/** `__SO_ACCEPTCON` in the Flags column of `/proc/net/unix`. */
const SO_ACCEPTCON = 0x10000;

function unixFacts(inode: string): SocketFacts | null {
  for (const fields of rows('/proc/net/unix', 7)) {
    // Num RefCount Protocol Flags Type St Inode Path (the path may hold spaces)
    if (fields[6] !== inode) continue;
    const type = Number.parseInt(fields[4] ?? '', 16);
    const raw = fields[7] ?? '';
    return {
      kind: type === 2 ? 'unix-dgram' : type === 1 ? 'unix' : 'unknown',
      ipv6: false,
      path: raw.startsWith('@') ? `\0${raw.slice(1)}` : raw,
      listening: (Number.parseInt(fields[3] ?? '0', 16) & SO_ACCEPTCON) !== 0,
    };
  }
  return null;
}

/** The table's rows split into fields; with `columns`, everything after that many fields is one last field. */
function rows(file: string, columns = Number.POSITIVE_INFINITY): string[][] {
  let text: string;
  try {
    text = readFileSync(file, 'latin1');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .slice(1)
    .map((line) => splitFields(line.trimStart(), columns));
}

function splitFields(line: string, columns: number): string[] {
  const fields: string[] = [];
  let rest = line;
  while (rest !== '' && fields.length < columns) {
    const space = rest.indexOf(' ');
    if (space < 0) return [...fields, rest];
    fields.push(rest.slice(0, space));
    rest = rest.slice(space).replace(/^ +/, '');
  }
  return rest === '' ? fields : [...fields, rest];
}
