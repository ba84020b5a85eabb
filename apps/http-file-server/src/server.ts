/**
 * Building the file server: `HTTPServer` from @socketserver/http on a
 * transport (TCP, or Unix with `--unix`), in a mode. The modes are one
 * table: what each wraps the server in, its settings, and what a graceful
 * stop waits for.
 *
 * @module
 */
import { stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import {
  type Awaitable,
  type BaseServer,
  EventLoopMixIn,
  formatAddress,
  type RequestHandlerClass,
  SocketServerError,
  type TLSSettings,
} from '@socketserver/core';
import {
  type FileSettings,
  HTTPServer,
  type HTTPServerState,
  type HTTPSettings,
  SimpleHTTPRequestHandler,
} from '@socketserver/http';
import { TCPServer, TLSServer } from '@socketserver/transport-inet';

/** How requests run: see the README's "Modes". */
export type ServeMode = 'eventloop' | 'threading' | 'forking' | 'sync';

/** The modes, in the order `--help` lists them. */
export const SERVE_MODES: readonly ServeMode[] = ['eventloop', 'threading', 'forking', 'sync'];

type AnyServerClass = abstract new (...args: any[]) => BaseServer<any, any>;

/** What a mode brings. */
interface ModeRow {
  /** Wraps the HTTP server class in the mode's mix-in (`sync`: none). */
  wrap(Base: AnyServerClass): Promise<AnyServerClass>;
  /** Server settings, from `--max-connections` when given. */
  settings(maxConnections: number | undefined): Record<string, unknown>;
  /** Handler settings the mode needs. */
  handlerSettings: Partial<HTTPSettings>;
  /** What a graceful stop waits for, in words (`2 responses in progress`), or `''` for nothing. */
  busy(server: any): string;
}

const MODES: Record<ServeMode, ModeRow> = {
  eventloop: {
    wrap: async (Base) => EventLoopMixIn(Base),
    settings: (max) => ({ maxConcurrentRequests: max ?? 1000 }),
    handlerSettings: {},
    busy: (server: HTTPServerState) => count(server.busyConnections, 'response', 'in progress'),
  },
  // One worker thread or child per core (the mix-ins' default), each serving its share at once.
  threading: {
    wrap: async (Base) =>
      (await optionalImport('@socketserver/mixin-threading', '--mode threading')).ThreadingMixIn(
        Base,
      ),
    settings: (max) => ({ hostConcurrency: perCore(max) }),
    handlerSettings: {},
    busy: (server: { activeRequests: number }) =>
      count(server.activeRequests, 'connection', 'in worker threads'),
  },
  forking: {
    wrap: async (Base) =>
      (await optionalImport('@socketserver/mixin-forking', '--mode forking')).ForkingMixIn(Base),
    settings: (max) => ({ hostConcurrency: perCore(max) }),
    handlerSettings: {},
    busy: (server: { activeRequests: number }) =>
      count(server.activeRequests, 'connection', 'in child processes'),
  },
  // One connection at a time, as Python's plain HTTPServer: keeping it open would starve the others.
  sync: {
    wrap: async (Base) => Base,
    settings: () => ({}),
    handlerSettings: { keepAlive: false },
    busy: (server: HTTPServerState) => count(server.busyConnections, 'response', 'in progress'),
  },
};

/** `--max-connections` (default 1000) spread over one worker thread or child process per core. */
function perCore(maxConnections: number | undefined): number {
  return Math.ceil((maxConnections ?? 1000) / availableParallelism());
}

/** `2 responses in progress`, `3 connections in child processes`, or `''` for none. */
function count(n: number, noun: string, where: string): string {
  if (n === 0) return '';
  const plural = noun.endsWith('s') ? `${noun}es` : `${noun}s`;
  return `${n} ${n === 1 ? noun : plural} ${where}`;
}

/** Options of {@link createFileServer}: where to listen, the mode, and every handler setting. */
export interface FileServerOptions extends Partial<HTTPSettings>, Partial<FileSettings> {
  /** Address to bind (default `''`: every interface, dual stack). */
  host?: string;
  /** Port (default 8000; 0 picks a free one). */
  port?: number;
  /** Listen on this Unix socket path instead of TCP; a stale socket file there is replaced. */
  unix?: string;
  /** Serve HTTPS with these TLS settings (certificate, key, ...): a `TLSServer`; TCP only. */
  tls?: TLSSettings;
  /** Require a PROXY protocol header on every connection, from `proxyProtocolFrom` (default loopback). */
  proxyProtocol?: boolean;
  /** Addresses and CIDR blocks trusted to send PROXY headers. */
  proxyProtocolFrom?: readonly string[];
  /** Serve this inherited listening socket (systemd) instead of binding: TCP, or Unix with `unix`. */
  listenFd?: number;
  /** Concurrency mode (default `eventloop`). */
  mode?: ServeMode;
  /**
   * Most connections served at once; more wait in the accept queue (default
   * 1000). In `threading` and `forking` modes they are spread over one
   * worker thread or child process per core, each serving its share at once:
   * idle connections never start more threads or processes than cores.
   */
  maxConnections?: number;
  /** Connections that may wait beyond `maxConnections`; more are closed at once (default 511, also the listen backlog). */
  requestQueueSize?: number;
  /** The handler class (default `SimpleHTTPRequestHandler`). */
  RequestHandlerClass?: RequestHandlerClass;
}

/** The file server: an `HTTPServer` in a mode. */
export interface FileServer extends BaseServer<any, any>, HTTPServerState {
  /** The concurrency mode (not `mode`: that is a Unix server's file permissions). */
  readonly serveMode: ServeMode;
  /** What a graceful stop waits for, in words (`2 responses in progress`), or `''` for nothing. */
  busy(): string;
}

/** An error of the file server with a stable code. */
export class FileServerError extends SocketServerError {}

async function optionalImport(specifier: string, what: string): Promise<Record<string, any>> {
  try {
    return (await import(/* @vite-ignore */ specifier)) as Record<string, any>;
  } catch (error) {
    throw new FileServerError(
      'ERR_SOCKETSERVER_HTTP_UNAVAILABLE',
      `${what} is not available: the package ${specifier} could not be loaded (${(error as Error).message})`,
      { cause: error },
    );
  }
}

/**
 * The server class for a transport and a mode: the mode's mix-in around
 * `HTTPServer(Transport)`, with a one-line report when the connection cap
 * turns connections away.
 */
async function fileServerClass(Transport: AnyServerClass, mode: ServeMode) {
  const row = MODES[mode];
  const Mixed = await row.wrap(HTTPServer(Transport as any));
  class Server extends (Mixed as unknown as new (...args: any[]) => BaseServer<any, any>) {
    readonly serveMode = mode;

    busy(): string {
      return row.busy(this);
    }

    override handleError(request: unknown, clientAddress: any, error: unknown): Awaitable<void> {
      if ((error as { code?: string } | null)?.code === 'ERR_SOCKETSERVER_QUEUE_FULL') {
        process.stderr.write(
          `${formatAddress(clientAddress)}: ${(error as Error).message} (raise --max-connections?)\n`,
        );
        return;
      }
      return super.handleError(request, clientAddress, error);
    }
  }
  return Server as unknown as {
    create(address: unknown, Handler: RequestHandlerClass, settings: object): Promise<FileServer>;
  };
}

/**
 * Creates, binds and activates a file server. Rejects with the bind error
 * (for example `EADDRINUSE`), with `ERR_SOCKETSERVER_HTTP_NOT_A_DIRECTORY`,
 * or with `ERR_SOCKETSERVER_HTTP_UNAVAILABLE` when the mode or transport
 * needs a package that is not installed.
 */
export async function createFileServer(options: FileServerOptions = {}): Promise<FileServer> {
  const mode = options.mode ?? 'eventloop';
  if (!SERVE_MODES.includes(mode)) {
    throw new FileServerError('ERR_SOCKETSERVER_INVALID_ARGUMENT', `unknown mode ${String(mode)}`);
  }
  let Transport: AnyServerClass = options.tls === undefined ? TCPServer : TLSServer;
  let address: unknown = { host: options.host ?? '', port: options.port ?? 8000 };
  const transportSettings = deploymentSettings(options);
  if (options.unix !== undefined) {
    if (options.tls !== undefined) {
      throw new FileServerError(
        'ERR_SOCKETSERVER_INVALID_ARGUMENT',
        'TLS is served over TCP only, not --unix',
      );
    }
    Transport = (await optionalImport('@socketserver/transport-unix', '--unix')).UnixStreamServer;
    address = options.unix;
    // As the echo app: a socket file left by a killed server is replaced; a live one is refused.
    transportSettings.removeStaleSocket = true;
  }
  const handlerSettings = await handlerSettingsOf(options, MODES[mode].handlerSettings);
  const Server = await fileServerClass(Transport, mode);
  return Server.create(address, options.RequestHandlerClass ?? SimpleHTTPRequestHandler, {
    ...transportSettings,
    ...MODES[mode].settings(options.maxConnections),
    handlerSettings,
    requestQueueSize: options.requestQueueSize ?? 511,
  });
}

/** The transport settings of TLS, the PROXY protocol and an inherited socket, when asked for. */
function deploymentSettings(options: FileServerOptions): Record<string, unknown> {
  return {
    ...(options.tls === undefined ? {} : { tls: options.tls }),
    ...(options.proxyProtocol ? { proxyProtocol: true } : {}),
    ...(options.proxyProtocolFrom === undefined
      ? {}
      : { proxyProtocolFrom: options.proxyProtocolFrom }),
    ...(options.listenFd === undefined ? {} : { listenFd: options.listenFd }),
  };
}

/** The handler settings among `options`, the directory resolved and checked. */
async function handlerSettingsOf(
  options: FileServerOptions,
  modeSettings: Partial<HTTPSettings>,
): Promise<Record<string, unknown>> {
  const settings: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    if (!NOT_HANDLER_SETTINGS.has(key) && value !== undefined) settings[key] = value;
  }
  const directory = resolve(options.directory ?? process.cwd());
  const root = await stat(directory).catch((error: Error) => error);
  if (root instanceof Error || !root.isDirectory()) {
    throw new FileServerError(
      'ERR_SOCKETSERVER_HTTP_NOT_A_DIRECTORY',
      `cannot serve ${directory}: ${root instanceof Error ? root.message : 'not a directory'}`,
    );
  }
  return { ...settings, ...modeSettings, directory };
}

/** The options of {@link createFileServer} that are not handler settings. */
const NOT_HANDLER_SETTINGS = new Set([
  'host',
  'port',
  'unix',
  'mode',
  'maxConnections',
  'requestQueueSize',
  'RequestHandlerClass',
  'tls',
  'proxyProtocol',
  'proxyProtocolFrom',
  'listenFd',
]);
