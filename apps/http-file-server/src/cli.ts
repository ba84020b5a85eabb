/**
 * The `socketserver-http` command: `python -m http.server` on @socketserver.
 * Starts the server when run; import `./index.js` for the library.
 *
 * @module
 */
import { type CliOptions, parseCli, servingLine, USAGE, UsageError } from './cli-options.js';
import { createFileServer, type FileServer } from './index.js';

/** Runs the command; resolves with the exit status once the server has stopped. */
export async function main(argv: string[]): Promise<number> {
  let options: CliOptions;
  try {
    options = parseCli(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${USAGE}socketserver-http: error: ${error.message}\n`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(USAGE);
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
    });
  } catch (error) {
    const code = (error as { code?: string }).code;
    process.stderr.write(
      `socketserver-http: ${(error as Error).message}${code ? ` (${code})` : ''}\n`,
    );
    return 1;
  }
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      process.stderr.write(`\n${signal} again: exiting now.\n`);
      process.exit(1);
    }
    stopping = true;
    process.stderr.write(`\n${signal} received, exiting.\n`);
    // Idle connections close now: the serving loop may be waiting for a free slot.
    server.closeIdleConnections();
    void server.shutdown();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // Printed once the signals are handled: a supervisor may signal as soon as it reads this line.
  process.stdout.write(`${servingLine(server)}\n`);
  await server.serveForever({ pollInterval: 500 });
  server.closeIdleConnections();
  // Connections still sending get 10 s to finish before the process leaves anyway.
  const force = setTimeout(() => process.exit(0), 10_000);
  force.unref();
  await server.serverClose();
  clearTimeout(force);
  process.off('SIGINT', stop);
  process.off('SIGTERM', stop);
  return 0;
}

main(process.argv.slice(2)).then(
  (status) => {
    process.exitCode = status;
  },
  (error) => {
    process.stderr.write(`socketserver-http: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
