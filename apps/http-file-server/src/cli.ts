/**
 * The `socketserver-http` command: `python -m http.server` on @socketserver.
 * Starts the server when run; import `./index.js` for the library.
 *
 * @module
 */
import { constants } from 'node:os';
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
  let server: FileServer;
  try {
    server = await createFileServer({
      host: options.bind,
      port: options.port,
      unix: options.unix,
      mode: options.mode,
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
  // Printed once the signals are handled: a supervisor may signal as soon as it reads this line.
  process.stdout.write(`${servingLine(server)}\n`);
  await server.serveForever({ pollInterval: 500 });
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
