#!/usr/bin/env node
/**
 * `socketserver-echo`: an echo server on any transport, in any mode.
 *
 * ```sh
 * socketserver-echo --transport tcp --mode threading --port 0
 * # echo server (threading) listening on tcp://127.0.0.1:40123
 * ```
 *
 * Prints one line to stdout when ready; SIGINT or SIGTERM stops it
 * gracefully (requests in flight finish, the socket file is removed, exit 0);
 * a second signal exits at once. Bad arguments: one line to stderr, exit 2.
 *
 * @module
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { BaseServer, InetAddress, InheritedSocket } from '@socketserver/core';
import {
  DEPLOY_FLAGS,
  DEPLOY_HELP,
  type DeployOptions,
  deploySettings,
  inheritedSocket,
  parseDeployOptions,
  readTLS,
  readyNotes,
  UsageError,
} from './deploy.js';
import {
  echoServerClass,
  MODES,
  type Mode,
  modes,
  NotAvailableError,
  TRANSPORTS,
  type Transport,
  transports,
  UDP_MAX_PACKET_SIZE,
  UNIX_DGRAM_MAX_PACKET_SIZE,
} from './servers.js';

const NAME = 'socketserver-echo';
const DEFAULT_HOST = '127.0.0.1';
const DEFAULT_PORT = 7007;
const DEFAULT_PATH = 'socketserver-echo.sock';

const HELP = `Usage: ${NAME} [options]

An echo server: stream transports echo each line as soon as it is complete
(a last line without a newline at end of stream); datagram transports send
each datagram back to its sender.

Options:
  --transport T  tcp | udp | unix | unix-dgram                (default: tcp)
  --mode M       sync       one request at a time
                 eventloop  many at once on Node's event loop (default)
                 threading  handlers in worker threads (one per core, each
                            serving many connections at once)
                 forking    handlers in child processes (one per core, each
                            serving many connections at once)
  --host H       address to bind, tcp and udp; ::1 for IPv6   (default: ${DEFAULT_HOST})
  --port P       port, tcp and udp; 0 picks a free one        (default: ${DEFAULT_PORT})
  --path P       socket file, unix and unix-dgram   (default: ./${DEFAULT_PATH})
                 a stale socket file there is replaced; a live one is refused
  -h, --help     show this help and exit

${DEPLOY_HELP}
When ready, prints one line to stdout:
  echo server (MODE) listening on URL[ (NOTES)]
with URL tcp://HOST:PORT, tcp://[IPV6]:PORT, tls://..., udp://..., unix:///PATH
or unix-dgram:///PATH (the real port when --port 0), and NOTES saying when the
socket came from systemd and when the PROXY protocol is on.

Largest datagram echoed whole: ${UDP_MAX_PACKET_SIZE} bytes on udp (IPv4 carries at most 65507),
${UNIX_DGRAM_MAX_PACKET_SIZE} bytes on unix-dgram; longer ones are truncated.

SIGINT or SIGTERM: stop accepting, let requests in flight finish, remove the
socket file, exit 0. A second signal exits at once (128 + signal number).

Exit codes: 0 stopped by a signal, 1 the server failed (for example
EADDRINUSE), 2 bad arguments or a transport or mode this build does not have.
`;

/** The parsed command line. */
interface EchoOptions {
  /** `--transport`. */
  transport: Transport;
  /** `--mode`. */
  mode: Mode;
  /** `--host` (tcp, udp). */
  host: string;
  /** `--port` (tcp, udp). */
  port: number;
  /** `--path`, made absolute (unix, unix-dgram). */
  path: string;
  /** TLS and the PROXY protocol. */
  deploy: DeployOptions;
}

/** Parses the arguments; throws {@link UsageError} on any mistake. Returns null for `--help`. */
function parseOptions(args: string[]): EchoOptions | null {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        transport: { type: 'string' },
        mode: { type: 'string' },
        host: { type: 'string' },
        port: { type: 'string' },
        path: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        ...DEPLOY_FLAGS,
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message.split('\n')[0]);
  }
  if (values.help) return null;
  const transport = oneOf('--transport', values.transport as string | undefined, TRANSPORTS, 'tcp');
  const mode = oneOf('--mode', values.mode as string | undefined, MODES, 'eventloop');
  const { family } = transports[transport];
  for (const option of family === 'inet' ? ['path'] : ['host', 'port']) {
    if (values[option] !== undefined) {
      throw new UsageError(`--${option} does not apply to --transport ${transport}`);
    }
  }
  const host = (values.host as string | undefined) ?? DEFAULT_HOST;
  if (host === '') throw new UsageError('--host must not be empty');
  const path = resolve((values.path as string | undefined) ?? DEFAULT_PATH);
  const deploy = parseDeployOptions(values, transport);
  return {
    transport,
    mode,
    host,
    port: parsePort(values.port as string | undefined),
    path,
    deploy,
  };
}

function oneOf<T extends string>(
  option: string,
  value: string | undefined,
  allowed: readonly T[],
  fallback: T,
): T {
  if (value === undefined) return fallback;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`${option} must be one of ${allowed.join(', ')}, got '${value}'`);
}

function parsePort(value: string | undefined): number {
  if (value === undefined) return DEFAULT_PORT;
  const port = /^\d{1,5}$/.test(value) ? Number(value) : Number.NaN;
  if (!(port >= 0 && port <= 65535)) {
    throw new UsageError(`--port must be an integer from 0 to 65535, got '${value}'`);
  }
  return port;
}

/** The server's URL, from its real bound address. */
function serverUrl(scheme: string, address: InetAddress | string): string {
  if (typeof address === 'string') return `${scheme}://${address}`;
  const host = address.family === 'IPv6' ? `[${address.host}]` : address.host;
  return `${scheme}://${host}:${address.port}`;
}

/** Starts the server, prints the ready line, serves until a signal. */
async function serve(options: EchoOptions): Promise<void> {
  const row = transports[options.transport];
  const inherited: InheritedSocket | undefined = inheritedSocket(options.transport);
  const tls = options.deploy.tls === null ? null : readTLS(options.deploy.tls);
  const EchoServer = await echoServerClass(options.transport, options.mode, { tls: tls !== null });
  const address = row.family === 'inet' ? { host: options.host, port: options.port } : options.path;
  const settings = {
    ...row.settings,
    ...modes[options.mode].settings,
    ...deploySettings(options.deploy, tls, inherited),
  };
  const server: BaseServer<any, any> = await EchoServer.create(address, row.Handler, settings);
  if (tls !== null) reloadOnHangup(server as BaseServer<any, any> & TLSReloadable, options);

  let stopping = false;
  const stop = async (signal: NodeJS.Signals): Promise<void> => {
    if (stopping) {
      process.stderr.write(`${NAME}: second ${signal}, exiting now\n`);
      process.exit(128 + signalNumber(signal));
    }
    stopping = true;
    process.stderr.write(`${NAME}: ${signal} received, finishing requests in flight\n`);
    await tellServiceManager('stopping');
    await server.shutdown();
    await server.serverClose();
    process.exit(0);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    stop(signal).catch(fail);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const serving = server.serveForever();
  const url = serverUrl(tls === null ? options.transport : 'tls', server.serverAddress);
  process.stdout.write(
    `echo server (${options.mode}) listening on ${url}${readyNotes(options.deploy, inherited)}\n`,
  );
  await tellServiceManager('ready', `listening on ${url}`);
  await serving;
}

/** What a TLS server offers for a reload. */
interface TLSReloadable {
  setTLSSettings(settings: ReturnType<typeof readTLS>): void;
}

/** SIGHUP: read the certificate and key again; new connections get them, open ones keep theirs. */
function reloadOnHangup(server: TLSReloadable, options: EchoOptions): void {
  process.on('SIGHUP', () => {
    try {
      server.setTLSSettings(readTLS(options.deploy.tls!));
      process.stderr.write(`${NAME}: SIGHUP received, certificate reloaded\n`);
    } catch (error) {
      process.stderr.write(
        `${NAME}: SIGHUP received, certificate not reloaded (still serving the previous one): ${oneLine(error)}\n`,
      );
    }
  });
}

/**
 * Tells the service manager (systemd's NOTIFY_SOCKET, when set) that the
 * server is ready or stopping. A failure is one line on stderr, not the end
 * of the server.
 */
async function tellServiceManager(state: 'ready' | 'stopping', status?: string): Promise<void> {
  if (!process.env.NOTIFY_SOCKET) return;
  try {
    const { notifyReady, notifyStopping } = await import('@socketserver/transport-unix');
    await (state === 'ready' ? notifyReady(status) : notifyStopping());
  } catch (error) {
    process.stderr.write(`${NAME}: could not notify the service manager: ${oneLine(error)}\n`);
  }
}

function oneLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, '; ');
}

function signalNumber(signal: NodeJS.Signals): number {
  return signal === 'SIGINT' ? 2 : 15;
}

function fail(error: unknown): never {
  // One line, whatever the error's message holds.
  const message = (error instanceof Error ? error.message : String(error)).replace(
    /\s*\n\s*/g,
    '; ',
  );
  const code = (error as { code?: unknown })?.code;
  process.stderr.write(`${NAME}: ${message}${typeof code === 'string' ? ` (${code})` : ''}\n`);
  process.exit(isUsageError(error) ? 2 : 1);
}

/** Errors that mean "not with these arguments": exit code 2. */
function isUsageError(error: unknown): boolean {
  return (
    error instanceof UsageError ||
    error instanceof NotAvailableError ||
    // For example a socket path longer than the kernel allows.
    (error as { code?: unknown })?.code === 'ERR_SOCKETSERVER_INVALID_ARGUMENT'
  );
}

/** Runs the command line. */
async function main(args: string[]): Promise<void> {
  let options: EchoOptions | null;
  try {
    options = parseOptions(args);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`${NAME}: ${error.message} (see --help)\n`);
      process.exit(2);
    }
    throw error;
  }
  if (options === null) {
    process.stdout.write(HELP);
    return;
  }
  await serve(options);
}

main(process.argv.slice(2)).catch(fail);
