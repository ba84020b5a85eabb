/**
 * The command line of `socketserver-http`: parsing and messages.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { LOOPBACK_SOURCES, TrustedSources } from '@socketserver/core';
import { type DotfilePolicy, LOG_FORMATS, type LogFormat } from '@socketserver/http';
import { type FileServer, SERVE_MODES, type ServeMode } from './index.js';

/** The usage lines, printed before a usage error (as Python's argparse does). */
export const SYNOPSIS = `usage: socketserver-http [port] [-p|--port PORT] [-b|--bind ADDR] [-d|--directory DIR]
                         [--cors [ORIGIN]] [--spa [FILE]] [--cache SECONDS] [--compress]
                         [--log-format FORMAT] [--mode eventloop|threading|forking|sync]
                         [--unix PATH] [--tls-cert FILE --tls-key FILE] [--proxy-protocol]
                         [--proxy-from CIDR[,CIDR...]] [--shutdown-timeout S] [--quiet]
                         [--version] [--help]
`;

/** The `--help` text. */
export const USAGE = `${SYNOPSIS}
Serve the files of a directory over HTTP/1.1.

positional arguments:
  port                  bind to this port (default 8000; 0 picks a free one)

options:
  -p, --port PORT       the same as the positional port
  -b, --bind ADDR       bind to this address (default: all interfaces, IPv6 and IPv4)
  -d, --directory DIR   serve this directory (default: the current directory)
  --cors [ORIGIN]       allow cross-origin requests from ORIGIN (default *):
                        Access-Control-Allow-Origin on every response, and
                        preflight requests answered for GET and HEAD
  --spa [FILE]          single-page application: a missing path without an
                        extension gets FILE (default index.html) with 200; a
                        missing /app.js is still 404. FILE as the next
                        argument only when it is not a number (or --spa=FILE)
  --cache SECONDS       Cache-Control: public, max-age=SECONDS on files (0:
                        no-cache), and a year with immutable for names that
                        carry a content hash (app.3f2a9c1b.js, index-B4x_kQ9a.js)
  --immutable REGEX     file names that carry a content hash (with --cache;
                        default: webpack, Parcel, Rollup, Vite and esbuild
                        hashes), or "none"
  --compress            serve NAME.br and NAME.gz beside a file, or compress
                        text types of 1 KiB to 4 MiB with brotli or gzip, as
                        the client accepts (never for a Range request)
  --log-format FORMAT   python (default), common, combined (with referrer,
                        user agent and duration) or json
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
  --version             print the version and exit
  -h, --help            show this help and exit

A listening socket passed by systemd (LISTEN_FDS: TCP, or a Unix stream
socket) is served instead of binding, and the serving line says so. With
NOTIFY_SOCKET set (Type=notify), READY=1 is sent once serving and STOPPING=1
on SIGINT or SIGTERM.

exit status: 0 stopped by a signal or --help/--version, 1 failed (the
address in use, the directory missing, ...), 2 usage error, 128+N a second
signal N during a graceful stop.
`;

/** The version of this command, from its package.json. */
export function version(): string {
  const manifest = new URL('../package.json', import.meta.url);
  return (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
}

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
  /** `--cors`: the allowed origin, or null. */
  cors: string | null;
  /** `--spa`: the fallback file, or null. */
  fallbackFile: string | null;
  /** `--cache`: seconds, or null. */
  maxAge: number | null;
  /** `--immutable`: a regular expression's source, null for none, undefined for the default. */
  immutableNames: string | null | undefined;
  compress: boolean;
  logFormat: LogFormat;
  /** `--tls-cert` and `--tls-key`, or null. */
  tls: { certFile: string; keyFile: string } | null;
  /** Trusted PROXY sources (`--proxy-from`, loopback with `--proxy-protocol`), or null: off. */
  proxyFrom: readonly string[] | null;
  help: boolean;
  version: boolean;
}

/**
 * Options whose value may be left out: the value when given as
 * `--name=VALUE`, or as the next argument when `takes` accepts it; the
 * default otherwise.
 */
const OPTIONAL_VALUES: Record<string, { fallback: string; takes(next: string): boolean }> = {
  '--spa': {
    fallback: 'index.html',
    takes: (next) => !next.startsWith('-') && !/^\d+$/.test(next),
  },
  '--cors': {
    fallback: '*',
    takes: (next) => next === '*' || /^[a-z][a-z0-9+.-]*:\/\//i.test(next),
  },
};

/** `argv` with each option of {@link OPTIONAL_VALUES} given its value as `--name=VALUE`. */
function withOptionalValues(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const option = OPTIONAL_VALUES[arg];
    if (option === undefined) {
      out.push(arg);
      continue;
    }
    const next = argv[i + 1];
    if (next !== undefined && option.takes(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(`${arg}=${option.fallback}`);
    }
  }
  return out;
}

/** A command-line mistake: printed with the usage, exit status 2 (as Python's argparse). */
export class UsageError extends Error {}

/** Parses `argv` (without `node` and the script). Throws {@link UsageError}. */
export function parseCli(argv: string[]): CliOptions {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: withOptionalValues(argv),
      allowPositionals: true,
      strict: true,
      options: {
        port: { type: 'string', short: 'p' },
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
        cors: { type: 'string' },
        spa: { type: 'string' },
        cache: { type: 'string' },
        immutable: { type: 'string' },
        compress: { type: 'boolean' },
        'log-format': { type: 'string' },
        version: { type: 'boolean' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'proxy-protocol': { type: 'boolean' },
        'proxy-from': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    // parseArgs may add lines of advice: the error is one line.
    throw new UsageError((error as Error).message.split('\n')[0]);
  }
  const { values, positionals } = parsed;
  if (positionals.length > 1)
    throw new UsageError(`unrecognized arguments: ${positionals.slice(1).join(' ')}`);
  if (positionals[0] !== undefined && values.port !== undefined) {
    throw new UsageError('give the port once: as an argument or with -p/--port');
  }
  const portText = (values.port as string | undefined) ?? positionals[0];
  const port = portText === undefined ? 8000 : Number(portText);
  if (!/^\d+$/.test(portText ?? '0') || port > 65535) {
    throw new UsageError(`invalid port: ${portText}`);
  }
  const logFormat = (values['log-format'] ?? 'python') as LogFormat;
  if (!LOG_FORMATS.includes(logFormat)) {
    throw new UsageError(
      `invalid --log-format ${String(values['log-format'])} (choose from ${LOG_FORMATS.join(', ')})`,
    );
  }
  const cache = values.cache as string | undefined;
  if (cache !== undefined && !/^\d+$/.test(cache)) {
    throw new UsageError(`invalid --cache ${cache} (a whole number of seconds)`);
  }
  const immutable = values.immutable as string | undefined;
  if (immutable !== undefined && immutable !== 'none') {
    try {
      new RegExp(immutable);
    } catch (error) {
      throw new UsageError(`invalid --immutable: ${(error as Error).message}`);
    }
  }
  if (values.spa === '') throw new UsageError('--spa= needs a file name');
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
  if (values.unix !== undefined && (values.bind !== undefined || portText !== undefined)) {
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
    cors: (values.cors as string | undefined) ?? null,
    fallbackFile: (values.spa as string | undefined) ?? null,
    maxAge: cache === undefined ? null : Number(cache),
    immutableNames: immutable === 'none' ? null : immutable,
    compress: values.compress === true,
    logFormat,
    tls,
    proxyFrom,
    help: values.help === true,
    version: values.version === true,
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
