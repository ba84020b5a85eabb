/**
 * Every transport and every mode, as two small tables. A server class is a
 * transport's plain server wrapped in a mode's mix-in, exactly as Python's
 * `class ThreadingTCPServer(ThreadingMixIn, TCPServer)`:
 *
 * ```ts
 * class EventLoopTCPServer extends EventLoopMixIn(TCPServer) {}
 * const server = await EventLoopTCPServer.create({ host: '127.0.0.1', port: 0 }, EchoStreamHandler);
 * ```
 *
 * Packages are loaded when a row is used, so a TCP server never loads the
 * Unix datagram native addon, nor the worker or child-process code.
 *
 * @module
 */
import { type BaseServer, EventLoopMixIn } from '@socketserver/core';
import { EchoDatagramHandler, EchoStreamHandler } from './handlers.js';

/** The transports, as `--transport` names them. */
export const TRANSPORTS = ['tcp', 'udp', 'unix', 'unix-dgram'] as const;
/** A transport's name. */
export type Transport = (typeof TRANSPORTS)[number];

/** The modes, as `--mode` names them. */
export const MODES = ['sync', 'eventloop', 'threading', 'forking'] as const;
/** A mode's name. */
export type Mode = (typeof MODES)[number];

/** A concrete server class: `create(address, Handler, settings)` binds and activates it. */
export interface EchoServerClass {
  create(address: unknown, Handler: unknown, settings?: object): Promise<BaseServer<any, any>>;
}

/** A server class before `echoServerClass` makes it concrete: a plain server, or one with a mix-in. */
type PlainServerClass = abstract new (...args: any[]) => BaseServer<any, any>;

/** What a transport brings: its plain server, its handler, its settings. */
export interface TransportRow {
  /** `inet` binds `--bind` and the port; `unix` binds `--unix`. */
  family: 'inet' | 'unix';
  /** The package that provides the server class (for "not available" messages). */
  packageName: string;
  /** Loads the plain (one request at a time) server class. */
  load(): Promise<PlainServerClass>;
  /** Loads its TLS variant, for transports that have one (tcp: `TLSServer`). */
  loadTLS?(): Promise<PlainServerClass>;
  /** The handler class: the same one in every mode. */
  Handler: typeof EchoStreamHandler | typeof EchoDatagramHandler;
  /** Settings for `create`. */
  settings: Record<string, unknown>;
}

/**
 * The largest UDP payload there is (65,527 bytes over IPv6; IPv4 carries at
 * most 65,507): no UDP datagram is ever truncated. Python's default is 8192.
 */
export const UDP_MAX_PACKET_SIZE = 65_527;

/**
 * The largest Unix datagram the echo server receives whole (its
 * `maxPacketSize`, 64 KiB, about UDP's largest); longer ones arrive truncated
 * to it. (Linux itself carries up to the sender's `SO_SNDBUF` less 32 bytes:
 * 212,960 with the default 212,992.)
 */
export const UNIX_DGRAM_MAX_PACKET_SIZE = 65_536;

/** The transports table. */
export const transports: Record<Transport, TransportRow> = {
  tcp: {
    family: 'inet',
    packageName: '@socketserver/transport-inet',
    load: async () => (await import('@socketserver/transport-inet')).TCPServer,
    loadTLS: async () => (await import('@socketserver/transport-inet')).TLSServer,
    Handler: EchoStreamHandler,
    settings: {},
  },
  udp: {
    family: 'inet',
    packageName: '@socketserver/transport-inet',
    load: async () => (await import('@socketserver/transport-inet')).UDPServer,
    Handler: EchoDatagramHandler,
    settings: { maxPacketSize: UDP_MAX_PACKET_SIZE },
  },
  unix: {
    family: 'unix',
    packageName: '@socketserver/transport-unix',
    load: async () => (await import('@socketserver/transport-unix')).UnixStreamServer,
    Handler: EchoStreamHandler,
    settings: { removeStaleSocket: true },
  },
  'unix-dgram': {
    family: 'unix',
    packageName: '@socketserver/transport-unix',
    load: async () => {
      const unix = await import('@socketserver/transport-unix');
      if (!unix.unixDgramAvailable) {
        throw new NotAvailableError(
          'the Unix datagram addon of @socketserver/transport-unix has no prebuilt binary for ' +
            `${process.platform}-${process.arch} (see that package's README to build one)`,
        );
      }
      return unix.UnixDatagramServer;
    },
    Handler: EchoDatagramHandler,
    settings: { maxPacketSize: UNIX_DGRAM_MAX_PACKET_SIZE, removeStaleSocket: true },
  },
};

/** What a mode brings: a mix-in over the plain server, or none. */
export interface ModeRow {
  /** The package that provides the mix-in. */
  packageName: string;
  /** Wraps a plain server class in the mode's mix-in (`sync` returns the plain class). */
  wrap(Base: PlainServerClass): Promise<PlainServerClass>;
  /** Settings for `create`, added to the transport's. */
  settings: Record<string, unknown>;
}

/** The modes table. */
export const modes: Record<Mode, ModeRow> = {
  sync: {
    packageName: '@socketserver/core',
    wrap: async (Base) => Base,
    settings: {},
  },
  eventloop: {
    packageName: '@socketserver/core',
    wrap: async (Base) => EventLoopMixIn(Base),
    settings: {},
  },
  threading: {
    packageName: '@socketserver/mixin-threading',
    wrap: async (Base) => (await import('@socketserver/mixin-threading')).ThreadingMixIn(Base),
    // The mix-in's defaults: one worker per core, each serving many connections at once.
    settings: {},
  },
  forking: {
    packageName: '@socketserver/mixin-forking',
    wrap: async (Base) => (await import('@socketserver/mixin-forking')).ForkingMixIn(Base),
    // The mix-in's defaults: one child per core, each serving many connections at once.
    // Children ignore SIGINT/SIGTERM sent to the whole process group (Ctrl-C):
    // the mix-in's parent shuts down gracefully and lets their requests finish.
    settings: {},
  },
};

/**
 * A transport or mode this build cannot offer: its package is missing or not
 * built. `code` is `ERR_SOCKETSERVER_ECHO_NOT_AVAILABLE`.
 */
export class NotAvailableError extends Error {
  /** Stable error code. */
  readonly code = 'ERR_SOCKETSERVER_ECHO_NOT_AVAILABLE';
  override name = 'NotAvailableError';
}

/**
 * The server class for a transport and a mode: `modes[mode]` wrapped around
 * `transports[transport]` (its TLS variant with `tls`). With `quiet`, a
 * failed request is not reported (`handleError` writes nothing). Rejects
 * with {@link NotAvailableError} when a package it needs cannot be loaded.
 */
export async function echoServerClass(
  transport: Transport,
  mode: Mode,
  { tls = false, quiet = false }: { tls?: boolean; quiet?: boolean } = {},
): Promise<EchoServerClass> {
  const row = transports[transport];
  const load = tls && row.loadTLS !== undefined ? row.loadTLS : row.load;
  const Plain = await loadOrExplain(row.packageName, () => load());
  const Mixed = await loadOrExplain(modes[mode].packageName, () => modes[mode].wrap(Plain));
  // A concrete subclass: mix-ins return abstract classes, `create` needs `new`.
  class EchoServer extends (Mixed as unknown as new (...args: any[]) => BaseServer<any, any>) {}
  class QuietEchoServer extends EchoServer {
    /** Every mode ends a request here, in the main thread: nothing to say. */
    override handleError(): void {}
  }
  return (quiet ? QuietEchoServer : EchoServer) as unknown as EchoServerClass;
}

async function loadOrExplain<T>(packageName: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    if (error instanceof NotAvailableError) throw error;
    const code = (error as { code?: unknown }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new NotAvailableError(
        `${packageName} is not available (not installed or not built): ${firstLine(error)}`,
        { cause: error },
      );
    }
    throw error;
  }
}

function firstLine(error: unknown): string {
  return String((error as Error).message).split('\n')[0]!;
}
