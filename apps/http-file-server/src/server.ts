/**
 * Building the file server: a transport (TCP, or Unix when asked) with a
 * concurrency mode, carrying the handler's settings.
 *
 * @module
 */
import { stat } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { resolve } from 'node:path';
import {
  type BaseServer,
  EventLoopMixIn,
  formatAddress,
  type RequestHandlerClass,
  SocketServerError,
} from '@socketserver/core';
import { TCPServer } from '@socketserver/transport-inet';
import { FileRequestHandler, type FileSettings } from './file-request-handler.js';
import {
  type HTTPRequestHandler,
  type HTTPSettings,
  SETTINGS_ENV,
} from './http-request-handler.js';

/** How requests run: see the README's "Modes". */
export type ServeMode = 'eventloop' | 'threading' | 'forking' | 'sync';

/** The modes, in the order `--help` lists them. */
export const SERVE_MODES: readonly ServeMode[] = ['eventloop', 'threading', 'forking', 'sync'];

/** Options of {@link createFileServer}. */
export interface FileServerOptions extends Partial<HTTPSettings>, Partial<FileSettings> {
  /** Address to bind (default `''`: every interface, dual stack). */
  host?: string;
  /** Port (default 8000; 0 picks a free one). */
  port?: number;
  /** Listen on this Unix socket path instead of TCP (needs `@socketserver/transport-unix`). */
  unix?: string;
  /** Concurrency mode (default `eventloop`). */
  mode?: ServeMode;
  /**
   * Most connections served at once; more wait in the accept queue. Default
   * 1000 for `eventloop`; for `threading` it is the number of worker
   * threads (default 16), for `forking` the number of children (default 40).
   */
  maxConnections?: number;
  /** Connections that may wait beyond `maxConnections`; more are closed at once (default 511, also the listen backlog). */
  requestQueueSize?: number;
  /** The handler class (default {@link FileRequestHandler}). */
  RequestHandlerClass?: RequestHandlerClass;
}

/** What the file server adds to a socketserver server. */
export interface FileServer extends BaseServer<Socket, any> {
  /** The settings each handler applies in `setup`. */
  handlerSettings: Partial<HTTPSettings & FileSettings>;
  /** Connections being served in this process (event-loop and sync modes). */
  httpConnections: Set<HTTPRequestHandler>;
  /** Closes connections that wait for a request; the others close after their response. */
  closeIdleConnections(): void;
  /** The concurrency mode. */
  readonly mode: ServeMode;
}

/** An error of the file server with a stable code. */
export class FileServerError extends SocketServerError {}

type AnyServerClass = abstract new (...args: any[]) => BaseServer<any, any>;

/**
 * Adds the file server's state to a server class: handler settings, the
 * set of live connections for a graceful stop, and a one-line report when
 * the connection cap turns connections away.
 */
export function HTTPServerMixIn<TBase extends AnyServerClass>(
  Base: TBase,
): TBase & (abstract new (...args: any[]) => Omit<FileServer, keyof BaseServer | 'mode'>) {
  abstract class HTTPServerMixed extends Base {
    handlerSettings: Partial<HTTPSettings & FileSettings> = {};
    httpConnections = new Set<HTTPRequestHandler>();

    closeIdleConnections(): void {
      for (const handler of this.httpConnections) handler.closeWhenIdle();
    }

    override handleError(request: any, clientAddress: any, error: unknown): any {
      if ((error as { code?: string } | null)?.code === 'ERR_SOCKETSERVER_QUEUE_FULL') {
        process.stderr.write(
          `${formatAddress(clientAddress)}: ${(error as Error).message} (raise --max-connections?)\n`,
        );
        return;
      }
      return super.handleError(request, clientAddress, error);
    }
  }
  return HTTPServerMixed;
}

async function optionalImport(specifier: string, what: string): Promise<Record<string, any>> {
  try {
    return (await import(/* @vite-ignore */ specifier)) as Record<string, any>;
  } catch (error) {
    throw new FileServerError(
      'ERR_SOCKETSERVER_HTTP_UNAVAILABLE',
      `${what} is not available yet: the package ${specifier} could not be loaded (${(error as Error).message})`,
      { cause: error },
    );
  }
}

/**
 * Creates, binds and activates a file server. Rejects with the bind error
 * (for example `EADDRINUSE`), or with `ERR_SOCKETSERVER_HTTP_UNAVAILABLE`
 * when the mode or transport needs a package that is not installed.
 */
export async function createFileServer(options: FileServerOptions = {}): Promise<FileServer> {
  const mode = options.mode ?? 'eventloop';
  if (!SERVE_MODES.includes(mode)) {
    throw new FileServerError('ERR_SOCKETSERVER_INVALID_ARGUMENT', `unknown mode ${String(mode)}`);
  }
  let Transport: AnyServerClass = TCPServer;
  let address: unknown = { host: options.host ?? '', port: options.port ?? 8000 };
  if (options.unix !== undefined) {
    const unix = await optionalImport('@socketserver/transport-unix', '--unix');
    Transport = unix.UnixStreamServer;
    address = options.unix;
  }
  let Base: AnyServerClass;
  if (mode === 'eventloop') Base = EventLoopMixIn(Transport);
  else if (mode === 'sync') Base = Transport;
  else if (mode === 'threading') {
    const threading = await optionalImport('@socketserver/mixin-threading', '--mode threading');
    Base = threading.ThreadingMixIn(Transport);
  } else {
    const forking = await optionalImport('@socketserver/mixin-forking', '--mode forking');
    Base = forking.ForkingMixIn(Transport);
  }
  const Server = HTTPServerMixIn(Base) as unknown as {
    create(address: unknown, Handler: RequestHandlerClass, settings: object): Promise<FileServer>;
  };

  const settings: Partial<HTTPSettings & FileSettings> = {};
  for (const key of SETTING_KEYS) {
    if (options[key] !== undefined) (settings as Record<string, unknown>)[key] = options[key];
  }
  settings.directory = resolve(settings.directory ?? process.cwd());
  const root = await stat(settings.directory).catch((error: Error) => error);
  if (root instanceof Error || !root.isDirectory()) {
    throw new FileServerError(
      'ERR_SOCKETSERVER_HTTP_NOT_A_DIRECTORY',
      `cannot serve ${settings.directory}: ${root instanceof Error ? root.message : 'not a directory'}`,
    );
  }
  // A plain server handles one connection at a time: keeping it open would starve the others.
  if (mode === 'sync') settings.keepAlive = false;
  if (mode === 'threading' || mode === 'forking')
    process.env[SETTINGS_ENV] = JSON.stringify(settings);

  const serverSettings: Record<string, unknown> = {
    handlerSettings: settings,
    requestQueueSize: options.requestQueueSize ?? 511,
  };
  if (mode === 'eventloop') serverSettings.maxConcurrentRequests = options.maxConnections ?? 1000;
  // A kept-alive connection holds its thread or child: pools sized for connections, not cores.
  if (mode === 'threading') serverSettings.maxThreads = options.maxConnections ?? 16;
  if (mode === 'forking') serverSettings.maxChildren = options.maxConnections ?? 40;
  const server = await Server.create(
    address,
    options.RequestHandlerClass ?? FileRequestHandler,
    serverSettings,
  );
  Object.defineProperty(server, 'mode', { value: mode, enumerable: true });
  return server;
}

const SETTING_KEYS = [
  'maxRequestLine',
  'maxHeaderBytes',
  'maxHeaders',
  'headTimeout',
  'keepAliveTimeout',
  'idleTimeout',
  'keepAlive',
  'maxDrainBytes',
  'quiet',
  'directory',
  'followSymlinks',
  'dotfiles',
  'maxRanges',
  'maxListingEntries',
  'indexFiles',
  'fileCache',
  'fileCacheEntries',
  'fileCacheBytes',
  'fileCacheMaxFileSize',
  'fileCacheCheckEachRequest',
] as const satisfies ReadonlyArray<keyof (HTTPSettings & FileSettings)>;
