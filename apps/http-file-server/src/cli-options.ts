/**
 * The command line of `socketserver-http`: parsing and messages.
 *
 * @module
 */
import { parseArgs } from 'node:util';
import { LOOPBACK_SOURCES, TrustedSources } from '@socketserver/core';
import type { DotfilePolicy } from '@socketserver/http';
import { type FileServer, SERVE_MODES, type ServeMode } from './index.js';

/** The `--help` text. */
export const USAGE = `usage: socketserver-http [port] [-b|--bind ADDR] [-d|--directory DIR]
                         [--mode eventloop|threading|forking|sync] [--unix PATH]
                         [--tls-cert FILE --tls-key FILE] [--proxy-protocol]
                         [--proxy-from CIDR[,CIDR...]] [--quiet] [--shutdown-timeout S]
                         [--help]

Serve the files of a directory over HTTP/1.1.

positional arguments:
  port                  bind to this port (default 8000; 0 picks a free one)

options:
  -b, --bind ADDR       bind to this address (default: all interfaces, IPv6 and IPv4)
  -d, --directory DIR   serve this directory (default: the current directory)
  --mode MODE           eventloop (default), threading, forking or sync
  --unix PATH           listen on a Unix socket at PATH instead of TCP (a stale
                        socket file there is replaced; a live one is refused)
  --quiet               write no log at all (no access lines, nothing for
                        bad requests)
  --follow-symlinks     follow symbolic links that lead outside the directory
  --dotfiles POLICY     names starting with ".": ignore (default: 404, unlisted),
                        deny (403, unlisted) or allow
  --max-connections N   connections served at once (default 1000)
  --no-file-cache       read every file from disk on every request (default:
                        keep small files in memory, checked by a stat per use)
  --shutdown-timeout S  on SIGINT or SIGTERM, wait at most S seconds for
                        responses in progress (default 10); a second signal
                        stops at once
  --tls-cert FILE       serve HTTPS with this certificate (PEM; a chain may
  --tls-key FILE        follow it) and its key; SIGHUP reloads both files
                        (open connections keep theirs); TCP only
  --proxy-protocol      expect a PROXY protocol header (v1 or v2) on every
                        connection, from loopback only: the logs and the
                        handlers see the client it names
  --proxy-from LIST     the same, trusting these addresses or CIDR blocks
                        (comma-separated, e.g. 10.0.0.0/8,fd00::/8)
  -h, --help            show this help and exit

A listening socket passed by systemd (LISTEN_FDS: TCP, or a Unix stream
socket) is served instead of binding, and the serving line says so. With
NOTIFY_SOCKET set (Type=notify), READY=1 is sent once serving and STOPPING=1
on SIGINT or SIGTERM.
`;

/** Parsed command line. */
export interface CliOptions {
  port: number;
  bind: string;
  directory: string;
  mode: ServeMode;
  unix: string | undefined;
  quiet: boolean;
  followSymlinks: boolean;
  dotfiles: DotfilePolicy;
  maxConnections: number;
  fileCache: boolean;
  /** Seconds a graceful stop waits for responses in progress. */
  shutdownTimeout: number;
  /** `--tls-cert` and `--tls-key`, or null. */
  tls: { certFile: string; keyFile: string } | null;
  /** Trusted PROXY sources (`--proxy-from`, loopback with `--proxy-protocol`), or null: off. */
  proxyFrom: readonly string[] | null;
  help: boolean;
}

/** A command-line mistake: printed with the usage, exit status 2 (as Python's argparse). */
export class UsageError extends Error {}

/** Parses `argv` (without `node` and the script). Throws {@link UsageError}. */
export function parseCli(argv: string[]): CliOptions {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        bind: { type: 'string', short: 'b' },
        directory: { type: 'string', short: 'd' },
        mode: { type: 'string' },
        unix: { type: 'string' },
        quiet: { type: 'boolean' },
        'follow-symlinks': { type: 'boolean' },
        dotfiles: { type: 'string' },
        'max-connections': { type: 'string' },
        'no-file-cache': { type: 'boolean' },
        'shutdown-timeout': { type: 'string' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'proxy-protocol': { type: 'boolean' },
        'proxy-from': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (positionals.length > 1)
    throw new UsageError(`unrecognized arguments: ${positionals.slice(1).join(' ')}`);
  const port = positionals[0] === undefined ? 8000 : Number(positionals[0]);
  if (!/^\d+$/.test(positionals[0] ?? '0') || port > 65535) {
    throw new UsageError(`invalid port: ${positionals[0]}`);
  }
  const mode = (values.mode ?? 'eventloop') as ServeMode;
  if (!SERVE_MODES.includes(mode)) {
    throw new UsageError(
      `invalid --mode ${String(values.mode)} (choose from ${SERVE_MODES.join(', ')})`,
    );
  }
  const dotfiles = (values.dotfiles ?? 'ignore') as DotfilePolicy;
  if (!['ignore', 'deny', 'allow'].includes(dotfiles)) {
    throw new UsageError(
      `invalid --dotfiles ${String(values.dotfiles)} (choose from ignore, deny, allow)`,
    );
  }
  const maxConnections = Number(values['max-connections'] ?? 1000);
  if (!Number.isInteger(maxConnections) || maxConnections < 1) {
    throw new UsageError(`invalid --max-connections ${String(values['max-connections'])}`);
  }
  const shutdownTimeout = Number(values['shutdown-timeout'] ?? 10);
  if (!(shutdownTimeout >= 0) || values['shutdown-timeout'] === '') {
    throw new UsageError(`invalid --shutdown-timeout ${String(values['shutdown-timeout'])}`);
  }
  if (values.unix !== undefined && (values.bind !== undefined || positionals.length > 0)) {
    throw new UsageError('--unix cannot be combined with a port or --bind');
  }
  const tls = parseTLS(values);
  if (tls !== null && values.unix !== undefined) {
    throw new UsageError('--tls-cert cannot be combined with --unix (TLS is served over TCP)');
  }
  const proxyFrom = parseProxy(values);
  return {
    port,
    bind: (values.bind as string | undefined) ?? '',
    directory: (values.directory as string | undefined) ?? process.cwd(),
    mode,
    unix: values.unix as string | undefined,
    quiet: values.quiet === true,
    followSymlinks: values['follow-symlinks'] === true,
    dotfiles,
    maxConnections,
    fileCache: values['no-file-cache'] !== true,
    shutdownTimeout,
    tls,
    proxyFrom,
    help: values.help === true,
  };
}

type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

function parseTLS(values: Values): CliOptions['tls'] {
  const certFile = values['tls-cert'] as string | undefined;
  const keyFile = values['tls-key'] as string | undefined;
  if (certFile === undefined && keyFile === undefined) return null;
  if (certFile === undefined || keyFile === undefined) {
    throw new UsageError('--tls-cert and --tls-key go together');
  }
  return { certFile, keyFile };
}

function parseProxy(values: Values): CliOptions['proxyFrom'] {
  const from = values['proxy-from'] as string | undefined;
  if (values['proxy-protocol'] !== true && from === undefined) return null;
  if (from === undefined) return LOOPBACK_SOURCES;
  const sources = from.split(',').map((source) => source.trim());
  try {
    new TrustedSources(sources);
  } catch (error) {
    throw new UsageError(`--proxy-from: ${(error as Error).message}`);
  }
  return sources;
}

/**
 * The "Serving HTTP on ..." line (HTTPS with TLS), with the real bound
 * address, then `notes` in parentheses when there are any (`socket from
 * systemd, fd 3`, `PROXY protocol from ...`).
 */
export function servingLine(server: FileServer, tls = false, notes: string[] = []): string {
  const address = server.serverAddress as { host: string; port: number; family: string } | string;
  const after = notes.length === 0 ? '' : ` (${notes.join('; ')})`;
  if (typeof address === 'string') return `Serving HTTP on unix socket ${address} ...${after}`;
  const urlHost = address.family === 'IPv6' ? `[${address.host}]` : address.host;
  const [name, scheme] = tls ? ['HTTPS', 'https'] : ['HTTP', 'http'];
  return `Serving ${name} on ${address.host} port ${address.port} (${scheme}://${urlHost}:${address.port}/) ...${after}`;
}
