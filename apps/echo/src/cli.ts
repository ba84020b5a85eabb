#!/usr/bin/env node
/**
 * `socketserver-echo`: an echo server on any transport, in any mode.
 *
 * ```sh
 * socketserver-echo 0 --mode threading
 * # echo server (threading) listening on tcp://127.0.0.1:40123
 * ```
 *
 * Prints one line to stdout when ready; SIGINT or SIGTERM stops it
 * gracefully (requests in flight finish, the socket file is removed, exit 0);
 * a second signal exits at once (128 + its number). A usage error prints the
 * usage lines and the error (exit 2); a failure, one line (exit 1). The
 * options are those of `apps/CLI.md`.
 *
 * @module
 */
import { constants } from 'node:os';
import type { BaseServer, InetAddress, InheritedSocket } from '@socketserver/core';
import { type EchoOptions, parseCli, SYNOPSIS, USAGE, version } from './cli-options.js';
import { deploySettings, inheritedSocket, readTLS, readyNotes, UsageError } from './deploy.js';
import { echoServerClass, modes, transports } from './servers.js';

const NAME = 'socketserver-echo';

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
  const EchoServer = await echoServerClass(options.transport, options.mode, {
    tls: tls !== null,
    quiet: options.quiet,
  });
  const address = row.family === 'inet' ? { host: options.bind, port: options.port } : options.unix;
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
      process.exit(128 + (constants.signals[signal] ?? 0));
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

/** A failure: one line `NAME: MESSAGE (CODE)`, exit 1; a usage error: the usage lines and the error, exit 2. */
function fail(error: unknown): never {
  if (error instanceof UsageError) {
    process.stderr.write(`${SYNOPSIS}${NAME}: error: ${error.message}\n`);
    process.exit(2);
  }
  const code = (error as { code?: unknown })?.code;
  process.stderr.write(
    `${NAME}: ${oneLine(error)}${typeof code === 'string' ? ` (${code})` : ''}\n`,
  );
  process.exit(1);
}

/** Runs the command line. */
async function main(args: string[]): Promise<void> {
  const options = parseCli(args);
  if (options.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (options.version) {
    process.stdout.write(`${NAME} ${version()}\n`);
    return;
  }
  await serve(options);
}

main(process.argv.slice(2)).catch(fail);
