/**
 * The command line of `socketserver-echo`: parsing and the help. The words
 * are the ones of `apps/CLI.md`, shared with `socketserver-http`.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  DEPLOY_FLAGS,
  DEPLOY_HELP,
  type DeployOptions,
  parseDeployOptions,
  UsageError,
} from './deploy.js';
import {
  MODES,
  type Mode,
  TRANSPORTS,
  type Transport,
  transports,
  UDP_MAX_PACKET_SIZE,
  UNIX_DGRAM_MAX_PACKET_SIZE,
} from './servers.js';

const NAME = 'socketserver-echo';
const DEFAULT_BIND = '127.0.0.1';
const DEFAULT_PORT = 7007;
const DEFAULT_UNIX = 'socketserver-echo.sock';

/** The usage lines, printed before a usage error (as Python's argparse does). */
export const SYNOPSIS = `usage: ${NAME} [port] [-p|--port PORT] [-b|--bind ADDR] [--unix PATH]
                         [--transport tcp|udp|unix|unix-dgram]
                         [--mode sync|eventloop|threading|forking]
                         [--tls-cert FILE --tls-key FILE] [--proxy-protocol]
                         [--proxy-from CIDR[,CIDR...]] [--quiet] [--version] [--help]
`;

/** The `--help` text. */
export const USAGE = `${SYNOPSIS}
An echo server: stream transports echo each line as soon as it is complete
(a last line without a newline at end of stream); datagram transports send
each datagram back to its sender.

positional arguments:
  port                  bind to this port, tcp and udp (default ${DEFAULT_PORT}; 0 picks
                        a free one)

options:
  -p, --port PORT       the same as the positional port
  -b, --bind ADDR       bind to this address, tcp and udp; ::1 for IPv6
                        (default ${DEFAULT_BIND})
  --unix PATH           listen on a Unix socket at PATH: a stream socket
                        (--transport unix), or a datagram socket with
                        --transport unix-dgram. A stale socket file there is
                        replaced; a live one is refused
  --transport T         tcp (default), udp, unix (Unix stream) or unix-dgram
                        (Unix datagram); unix and unix-dgram without --unix
                        listen on ./${DEFAULT_UNIX}
  --mode MODE           sync       one request at a time
                        eventloop  many at once on Node's event loop (default)
                        threading  handlers in worker threads (one per core,
                                   each serving many connections at once)
                        forking    handlers in child processes (one per core,
                                   each serving many connections at once)
  --quiet               write no log: a request that fails (a handler that
                        throws, a peer that resets, a bad PROXY header) is
                        not reported on stderr
  --version             print the version and exit
  -h, --help            show this help and exit

${DEPLOY_HELP}
When ready, prints one line to stdout:
  echo server (MODE) listening on URL[ (NOTES)]
with URL tcp://HOST:PORT, tcp://[IPV6]:PORT, tls://..., udp://..., unix:///PATH
or unix-dgram:///PATH (the real port when the port is 0), and NOTES saying when
the socket came from systemd and when the PROXY protocol is on.

Largest datagram echoed whole: ${UDP_MAX_PACKET_SIZE} bytes on udp (IPv4 carries at most 65507),
${UNIX_DGRAM_MAX_PACKET_SIZE} bytes on unix-dgram; longer ones are truncated.

SIGINT or SIGTERM: stop accepting, let requests in flight finish, remove the
socket file, exit 0. A second signal exits at once (128 + signal number).
SIGHUP reloads the TLS certificate and key.

exit status: 0 stopped by a signal or --help/--version, 1 failed (the address
in use, a package this transport or mode needs not installed, ...), 2 usage
error, 128+N a second signal N during a graceful stop.
`;

/** The version of this command, from its package.json. */
export function version(): string {
  const manifest = new URL('../package.json', import.meta.url);
  return (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
}

/** The parsed command line. */
export interface EchoOptions {
  /** `--transport`; `unix` when only `--unix` is given. */
  transport: Transport;
  /** `--mode`. */
  mode: Mode;
  /** `-b/--bind` (tcp, udp). */
  bind: string;
  /** The positional port or `-p/--port` (tcp, udp). */
  port: number;
  /** `--unix`, made absolute (unix, unix-dgram). */
  unix: string;
  /** `--quiet`: no report of failed requests. */
  quiet: boolean;
  /** TLS and the PROXY protocol. */
  deploy: DeployOptions;
  help: boolean;
  version: boolean;
}

/** Parses `argv` (without `node` and the script). Throws {@link UsageError}. */
export function parseCli(argv: string[]): EchoOptions {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        port: { type: 'string', short: 'p' },
        bind: { type: 'string', short: 'b' },
        unix: { type: 'string' },
        transport: { type: 'string' },
        mode: { type: 'string' },
        quiet: { type: 'boolean' },
        version: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        ...DEPLOY_FLAGS,
      },
    });
  } catch (error) {
    // parseArgs may add lines of advice: the error is one line.
    throw new UsageError((error as Error).message.split('\n')[0]);
  }
  const { positionals } = parsed;
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (positionals.length > 1)
    throw new UsageError(`unrecognized arguments: ${positionals.slice(1).join(' ')}`);
  if (positionals[0] !== undefined && values.port !== undefined) {
    throw new UsageError('give the port once: as an argument or with -p/--port');
  }
  const unix = values.unix as string | undefined;
  const transport = oneOf('transport', values.transport, TRANSPORTS, unix ? 'unix' : 'tcp');
  const portText = (values.port as string | undefined) ?? positionals[0];
  checkAddress(transport, { unix, portText, bind: values.bind });
  const bind = (values.bind as string | undefined) ?? DEFAULT_BIND;
  if (bind === '') throw new UsageError('invalid --bind: an empty address');
  return {
    transport,
    mode: oneOf('mode', values.mode, MODES, 'eventloop'),
    bind,
    port: parsePort(portText),
    unix: resolve(unix ?? DEFAULT_UNIX),
    quiet: values.quiet === true,
    deploy: parseDeployOptions(values, transport),
    help: values.help === true,
    version: values.version === true,
  };
}

/** A port and `--bind` are for tcp and udp, `--unix` for unix and unix-dgram. */
function checkAddress(
  transport: Transport,
  given: { unix: string | undefined; portText: string | undefined; bind: unknown },
): void {
  const inet = given.portText !== undefined || given.bind !== undefined;
  if (transports[transport].family === 'inet') {
    if (given.unix !== undefined) {
      throw new UsageError(`--unix does not apply to --transport ${transport}`);
    }
  } else if (inet) {
    throw new UsageError(
      `${given.unix === undefined ? `--transport ${transport}` : '--unix'} cannot be combined with a port or --bind`,
    );
  }
}

function oneOf<T extends string>(
  option: string,
  value: unknown,
  allowed: readonly T[],
  fallback: T,
): T {
  if (value === undefined) return fallback;
  if ((allowed as readonly unknown[]).includes(value)) return value as T;
  throw new UsageError(`invalid --${option} ${String(value)} (choose from ${allowed.join(', ')})`);
}

function parsePort(text: string | undefined): number {
  if (text === undefined) return DEFAULT_PORT;
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) {
    throw new UsageError(`invalid port: ${text}`);
  }
  return Number(text);
}
