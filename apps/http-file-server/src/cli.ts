/**
 * The `socketserver-http` command: `python -m http.server` on @socketserver.
 * Starts the server when run; import `./index.js` for the library.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import {
  type InheritedSocket,
  listenFds,
  type TLSSettings,
  takeListenFd,
} from '@socketserver/core';
import {
  type CliOptions,
  parseCli,
  SYNOPSIS,
  servingLine,
  USAGE,
  UsageError,
  version,
} from './cli-options.js';
import { createFileServer, type FileServer } from './index.js';

/** Runs the command; resolves with the exit status once the server has stopped. */
export async function main(argv: string[]): Promise<number> {
  let options: CliOptions;
  try {
    options = parseCli(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${SYNOPSIS}socketserver-http: error: ${error.message}\n`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (options.version) {
    process.stdout.write(`socketserver-http ${version()}\n`);
    return 0;
  }
  let inherited: InheritedSocket | undefined;
  let tls: TLSSettings | undefined;
  try {
    inherited = inheritedSocket();
    tls = options.tls === null ? undefined : readTLS(options.tls);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${SYNOPSIS}socketserver-http: error: ${error.message}\n`);
    return 2;
  }
  let server: FileServer;
  try {
    server = await createFileServer({
      host: options.bind,
      port: options.port,
      unix: inherited === undefined ? options.unix : unixPathOf(inherited),
      mode: options.mode,
      tls,
      ...(options.proxyFrom === null
        ? {}
        : { proxyProtocol: true, proxyProtocolFrom: options.proxyFrom }),
      ...(inherited === undefined ? {} : { listenFd: inherited.fd }),
      directory: options.directory,
      quiet: options.quiet,
      followSymlinks: options.followSymlinks,
      dotfiles: options.dotfiles,
      maxConnections: options.maxConnections,
      fileCache: options.fileCache,
      cors: options.cors,
      fallbackFile: options.fallbackFile,
      maxAge: options.maxAge,
      ...(options.immutableNames === undefined ? {} : { immutableNames: options.immutableNames }),
      precompressed: options.compress,
      compress: options.compress,
      logFormat: options.logFormat,
    });
  } catch (error) {
    const code = (error as { code?: string }).code;
    process.stderr.write(
      `socketserver-http: ${(error as Error).message}${code ? ` (${code})` : ''}\n`,
    );
    return 1;
  }
  const stop = stopOnSignals(server, options.shutdownTimeout);
  if (options.tls !== null) reloadOnHangup(server as FileServer & TLSReloadable, options.tls);
  // Printed once the signals are handled: a supervisor may signal as soon as it reads this line.
  const line = servingLine(server, options.tls !== null, notes(options, inherited));
  process.stdout.write(`${line}\n`);
  const serving = server.serveForever({ pollInterval: 500 });
  await tellServiceManager('ready', line);
  await serving;
  const status = await stop.closed();
  stop.remove();
  return status;
}

/**
 * The graceful stop: the first SIGINT or SIGTERM stops accepting, closes
 * idle connections and says what it waits for and for how long; a second
 * signal stops at once (exit 128 + signal number). After `timeout` seconds
 * the process stops waiting (exit 1).
 */
function stopOnSignals(server: FileServer, timeout: number) {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    const busy = server.busy();
    if (stopping) {
      process.stderr.write(
        `\n${signal} again: stopping now${busy ? `, cutting off ${busy}` : ''}.\n`,
      );
      process.exit(128 + (constants.signals[signal] ?? 0));
    }
    stopping = true;
    void tellServiceManager('stopping');
    process.stderr.write(
      busy
        ? `\n${signal} received: waiting up to ${timeout} s for ${busy} to finish ` +
            `(${signal === 'SIGINT' ? 'Ctrl-C' : signal} again to stop now).\n`
        : `\n${signal} received, exiting.\n`,
    );
    // Idle connections close now: the serving loop may be waiting for a free slot.
    server.closeIdleConnections();
    void server.shutdown();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  return {
    /** Closes the server, waiting at most `timeout` s for responses in progress; the exit status. */
    async closed(): Promise<number> {
      server.closeIdleConnections();
      let status = 0;
      let force: NodeJS.Timeout | undefined;
      const expired = new Promise<void>((done) => {
        force = setTimeout(() => {
          const busy = server.busy();
          process.stderr.write(
            `socketserver-http: stopped waiting after ${timeout} s${busy ? `, cutting off ${busy}` : ''}.\n`,
          );
          status = 1;
          done();
        }, timeout * 1000);
      });
      await Promise.race([server.serverClose(), expired]);
      clearTimeout(force);
      return status;
    },
    remove(): void {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    },
  };
}

/** The listening socket systemd passed (TCP or Unix stream), if any; several or another kind: a usage error. */
function inheritedSocket(): InheritedSocket | undefined {
  if (listenFds().length === 0) return undefined;
  try {
    const socket = takeListenFd(['tcp', 'unix']);
    if (socket !== undefined) return socket;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const passed = listenFds()
    .map((s) => `${s.name}=${s.kind}`)
    .join(', ');
  throw new UsageError(
    `systemd passed sockets (${passed}), none of them a TCP or Unix stream socket`,
  );
}

/** The path of an inherited Unix socket (a placeholder when /proc does not say), or undefined for TCP. */
function unixPathOf(inherited: InheritedSocket): string | undefined {
  if (inherited.kind !== 'unix') return undefined;
  return inherited.path || `fd ${inherited.fd}`;
}

/** What the serving line adds: where the socket came from, whom the server trusts. */
function notes(options: CliOptions, inherited: InheritedSocket | undefined): string[] {
  return [
    ...(inherited === undefined ? [] : [`socket from systemd, fd ${inherited.fd}`]),
    ...(options.proxyFrom === null ? [] : [`PROXY protocol from ${options.proxyFrom.join(',')}`]),
  ];
}

/** Reads the certificate and key files; a file that cannot be read is a usage error naming it. */
function readTLS(tls: NonNullable<CliOptions['tls']>): TLSSettings {
  const read = (option: string, file: string) => {
    try {
      return readFileSync(file);
    } catch (error) {
      throw new UsageError(`${option} ${file}: ${(error as Error).message}`);
    }
  };
  return { cert: read('--tls-cert', tls.certFile), key: read('--tls-key', tls.keyFile) };
}

/** What an HTTPS server offers for a reload. */
interface TLSReloadable {
  setTLSSettings(settings: TLSSettings): void;
}

/** SIGHUP: read the certificate and key again; new connections get them, open ones keep theirs. */
function reloadOnHangup(server: TLSReloadable, tls: NonNullable<CliOptions['tls']>): void {
  process.on('SIGHUP', () => {
    try {
      server.setTLSSettings(readTLS(tls));
      process.stderr.write('socketserver-http: SIGHUP received, certificate reloaded\n');
    } catch (error) {
      process.stderr.write(
        `socketserver-http: SIGHUP received, certificate not reloaded (still serving the previous one): ${(error as Error).message}\n`,
      );
    }
  });
}

/**
 * Tells the service manager (systemd's NOTIFY_SOCKET, when set) that the
 * server is ready or stopping; a failure is one line on stderr.
 */
async function tellServiceManager(state: 'ready' | 'stopping', status?: string): Promise<void> {
  if (!process.env.NOTIFY_SOCKET) return;
  try {
    const { notifyReady, notifyStopping } = await import('@socketserver/transport-unix');
    await (state === 'ready' ? notifyReady(status) : notifyStopping());
  } catch (error) {
    process.stderr.write(
      `socketserver-http: could not notify the service manager: ${(error as Error).message}\n`,
    );
  }
}

main(process.argv.slice(2)).then(
  (status) => {
    process.exitCode = status;
    // Cut off: connections still open would keep the process alive.
    if (status !== 0) process.exit(status);
  },
  (error) => {
    process.stderr.write(`socketserver-http: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
