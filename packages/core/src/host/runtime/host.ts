/**
 * The host: what runs in a worker thread or child process. It imports the
 * handler (and the server's request preparers), then runs every request it
 * is given at once on its own event loop, owns the connections handed or
 * moved to it, ends each after its handler (core's `endConnection`), and
 * reports each request's outcome. It exits when retired, once its requests
 * and their last bytes are done.
 *
 * @module
 */
import type { Socket } from 'node:net';
import {
  closeIdleHandlers,
  type RequestHandlerClass,
  runRequestHandler,
} from '../../base-request-handler.js';
import { endConnection } from '../../connection.js';
import {
  buildConnectionSetup,
  type ConnectionSetup,
  type ConnectionSetupSettings,
  type PreparedConnection,
  prepareConnection,
} from '../../connection-setup.js';
import { ClosedError } from '../../errors.js';
import type { Address, DatagramSender, RequestPreparer } from '../../types.js';
import { HandoffError } from '../errors.js';
import { readRecords } from '../records.js';
import { reviveSnapshot } from '../snapshot.js';
import {
  type FromHost,
  fromWire,
  type HostBoot,
  type ModuleExport,
  type StartMessage,
  type ToHost,
  toWire,
} from '../wire.js';
import { BridgedSocket } from './bridged-socket.js';
import type { Channel } from './channel.js';
import { type ImportModule, loadExport } from './load.js';

/** Thrown (and caught) when a connection's peer left before its preparation read a byte. */
const PEER_GONE = Symbol('peer gone');

/** How long a host whose server is gone lets its requests go on (ms). */
const ORPHAN_GRACE = 5_000;

/** A request running here. */
interface Running {
  /** Its connection, when it has one (owned here, or bridged). */
  socket: Socket | BridgedSocket | null;
  /** Datagram replies waiting for the server to send them. */
  sends: Map<number, { resolve(): void; reject(error: Error): void }>;
}

/** One worker thread's or child process's handlers and requests. */
export class Host {
  #boot: HostBoot;
  #channel: Channel;
  #import: ImportModule;
  #server: Record<string, unknown>;
  #handlers = new Map<string, Promise<RequestHandlerClass>>();
  #preparers: RequestPreparer[] = [];
  /** How connections are prepared here (PROXY header, TLS handshake), or null: as they come. */
  #connections: ConnectionSetup | null = null;
  /** Servers of hand-offs, by key. */
  #servers = new Map<number, Record<string, unknown>>();
  #running = new Map<number, Running>();
  #lingering = new Set<Socket>();
  #nextSeq = 1;
  #retiring = false;
  #exiting = false;

  /**
   * @param boot - what the server sent: handler, preparers, snapshot.
   * @param channel - the line to the server.
   * @param importModule - `import()` of the entry script.
   */
  constructor(boot: HostBoot, channel: Channel, importModule: ImportModule) {
    this.#boot = boot;
    this.#channel = channel;
    this.#import = importModule;
    this.#server = reviveSnapshot(boot.server);
  }

  /** Loads the handler and the preparers; reports `ready`, or `loadError` and exits. */
  async start(): Promise<void> {
    try {
      if (this.#boot.handler !== null) {
        this.#server.RequestHandlerClass = await this.#handler(this.#boot.handler);
      }
      this.#preparers = (await Promise.all(
        this.#boot.preparers.map((location) => this.#load(location)),
      )) as RequestPreparer[];
      this.#setConnections(this.#boot.connections ?? null);
    } catch (error) {
      this.#channel.post({ t: 'loadError', err: toWire(error) });
      this.#exit(1);
      return;
    }
    this.#channel.listen((message, handle) => this.#receive(message, handle));
    this.#channel.post({ t: 'ready' });
  }

  /** The server is gone (a child's channel closed): finish what runs, briefly, then exit. */
  orphaned(): void {
    for (const running of this.#running.values()) {
      for (const pending of running.sends.values()) {
        pending.reject(new ClosedError('the channel to the server'));
      }
    }
    this.#retiring = true;
    setTimeout(() => this.#exit(0), ORPHAN_GRACE).unref();
    this.#maybeExit();
  }

  #receive(message: ToHost, handle: unknown): void {
    switch (message.t) {
      case 'start':
        void this.#run(message, handle as Socket | undefined);
        return;
      case 'records':
        readRecords(message.b, (id, type, payload) => {
          const socket = this.#running.get(id)?.socket;
          if (socket instanceof BridgedSocket) socket.receive(type, payload);
        });
        return;
      case 'sent': {
        const pending = this.#running.get(message.id)?.sends;
        const send = pending?.get(message.seq);
        if (send === undefined) return;
        pending!.delete(message.seq);
        if (message.err) send.reject(fromWire(message.err));
        else send.resolve();
        return;
      }
      case 'abort':
        this.#running.get(message.id)?.socket?.destroy();
        return;
      case 'closeIdle':
        closeIdleHandlers(this.#server);
        for (const server of this.#servers.values()) closeIdleHandlers(server);
        return;
      case 'retire':
        this.#retiring = true;
        this.#maybeExit();
        return;
      case 'connections':
        try {
          this.#setConnections(message.setup);
        } catch {
          // The server built the same settings before sending them: keep the current ones.
        }
        return;
    }
  }

  /** Runs one request to its end and reports its outcome. */
  async #run(message: StartMessage, handle: Socket | undefined): Promise<void> {
    const running: Running = { socket: null, sends: new Map() };
    this.#running.set(message.id, running);
    let error: unknown = null;
    let gone = false;
    let owned: Socket | null = null;
    try {
      let request = this.#request(message, handle, running);
      // A connection this host owns (not bridged): its bytes are reported with `done`.
      if (message.kind === 'socket') owned = request as Socket;
      let clientAddress = message.addr;
      const location = message.handler ?? this.#boot.handler;
      if (location === null) throw new HandoffError('the request names no handler class');
      let Handler = await this.#handler(location);
      if (message.data !== undefined) Handler = withHandoffData(Handler, message.data);
      const server = message.server === undefined ? this.#server : this.#serverOf(message.server);
      // A connection of this server's own, not a hand-off (which arrives prepared).
      if (this.#connections !== null && message.kind !== 'datagram' && !message.handler) {
        const prepared = await this.#prepare(request as Socket, clientAddress, running);
        request = prepared.socket;
        clientAddress = prepared.clientAddress;
      }
      await runRequestHandler(Handler, this.#preparers, request, clientAddress, server as never);
    } catch (caught) {
      gone = caught === PEER_GONE;
      if (gone) running.socket?.destroy();
      else error = caught;
    }
    await this.#end(running.socket);
    this.#running.delete(message.id);
    const done: Extract<FromHost, { t: 'done' }> = { t: 'done', id: message.id };
    if (error !== null) done.err = toWire(error);
    if (owned !== null) done.io = [owned.bytesRead, owned.bytesWritten];
    if (gone) done.gone = true;
    this.#channel.post(done);
    this.#maybeExit();
  }

  /**
   * Reads the connection's PROXY header and runs its TLS handshake; the
   * handler's socket becomes the one ended after it (a TLS socket ends with
   * close_notify). A refused connection is closed and the error thrown (for
   * `handleError`); a peer that left without a byte (a TCP health check)
   * throws {@link PEER_GONE}: nothing to serve, nothing to report.
   */
  async #prepare(socket: Socket, peer: Address, running: Running): Promise<PreparedConnection> {
    let prepared: PreparedConnection | null;
    try {
      prepared = await prepareConnection(socket, peer, this.#connections!);
    } catch (refused) {
      socket.destroy();
      throw refused;
    }
    if (prepared === null) throw PEER_GONE;
    running.socket = prepared.socket;
    return prepared;
  }

  /** Builds the connection setup from the server's data (null: connections are served as they come). */
  #setConnections(settings: ConnectionSetupSettings | null): void {
    this.#connections = settings === null ? null : buildConnectionSetup(settings);
  }

  /** The request object the handler gets: the connection (here or bridged), or the datagram. */
  #request(message: StartMessage, handle: Socket | undefined, running: Running): unknown {
    const id = message.id;
    if (message.kind === 'datagram') {
      const packet = Buffer.from(
        message.packet!.buffer,
        message.packet!.byteOffset,
        message.packet!.byteLength,
      );
      return { packet, socket: this.#sender(id, running) };
    }
    if (message.kind === 'bridged') {
      const socket = new BridgedSocket(
        (type, payload) => this.#channel.record(id, type, payload),
        message.info,
      );
      socket.on('error', ignore); // errors reach the handler through rfile/wfile
      running.socket = socket;
      if (message.prefix !== undefined) socket.unshift(Buffer.from(message.prefix));
      return socket;
    }
    const socket = (message.socket ?? handle) as Socket | undefined;
    if (socket === undefined) {
      throw new HandoffError('the connection closed before the host received it');
    }
    socket.on('error', ignore); // as in the server: errors reach the handler through rfile/wfile
    // As the server's own sockets: the peer's end of input does not end our output.
    socket.allowHalfOpen = true;
    running.socket = socket;
    if (message.prefix !== undefined && message.prefix.length > 0) {
      socket.unshift(Buffer.from(message.prefix));
    }
    return socket;
  }

  /** A datagram handler's `socket`: its replies leave from the server's own socket. */
  #sender(id: number, running: Running): DatagramSender<Address> {
    return {
      sendTo: (data, address) =>
        new Promise<void>((resolve, reject) => {
          if (!this.#channel.connected) {
            reject(new ClosedError('the channel to the server'));
            return;
          }
          const seq = this.#nextSeq++;
          running.sends.set(seq, { resolve, reject });
          this.#channel.post({ t: 'sendto', id, seq, data: Uint8Array.from(data), addr: address });
        }),
    };
  }

  /**
   * Ends a connection after its handler: a bridged one once every byte the
   * handler wrote is with the server (which then ends it); one owned here
   * with `endConnection` (last bytes first, then FIN; a linger bounds it).
   */
  async #end(socket: Socket | BridgedSocket | null): Promise<void> {
    if (socket === null) return;
    if (socket instanceof BridgedSocket) {
      await socket.flushWrites();
      socket.detach();
      return;
    }
    endConnection(socket);
    if (socket.destroyed) return;
    this.#lingering.add(socket);
    socket.once('close', () => {
      this.#lingering.delete(socket);
      this.#maybeExit();
    });
  }

  /** A hand-off's server: the snapshot first seen under its key, so its handlers share one `this.server`. */
  #serverOf({
    key,
    snapshot,
  }: {
    key: number;
    snapshot: Record<string, unknown>;
  }): Record<string, unknown> {
    let server = this.#servers.get(key);
    if (server === undefined) {
      server = reviveSnapshot(snapshot);
      this.#servers.set(key, server);
    }
    return server;
  }

  #handler(location: ModuleExport): Promise<RequestHandlerClass> {
    const key = `${location.moduleUrl}#${location.exportName}`;
    let loading = this.#handlers.get(key);
    if (loading === undefined) {
      loading = this.#load(location) as Promise<RequestHandlerClass>;
      this.#handlers.set(key, loading);
      loading.catch(() => this.#handlers.delete(key));
    }
    return loading;
  }

  /**
   * Imports an export. A module that starts a server without awaiting it
   * fails a turn later (an unhandled rejection): wait two turns for it.
   */
  async #load(location: ModuleExport): Promise<Function> {
    let late: unknown = null;
    const onRejection = (reason: unknown) => {
      late ??= reason;
    };
    process.on('unhandledRejection', onRejection);
    try {
      const loaded = await loadExport(location, this.#import, this.#boot.parentExecArgv);
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
      if (late !== null) throw late;
      return loaded;
    } finally {
      process.off('unhandledRejection', onRejection);
    }
  }

  #maybeExit(): void {
    if (!this.#retiring || this.#running.size > 0 || this.#lingering.size > 0) return;
    this.#exit(0);
  }

  #exit(code: number): void {
    if (this.#exiting) return;
    this.#exiting = true;
    // The last messages (a `done`, a `loadError`) leave first.
    this.#channel.whenSent(() => process.exit(code));
  }
}

/** The handler class with `handoffData` set on each instance before `setup` (a hand-off). */
function withHandoffData(Handler: RequestHandlerClass, data: unknown): RequestHandlerClass {
  return class extends (Handler as new (...args: any[]) => { run(): Promise<void> }) {
    handoffData = data;
  } as unknown as RequestHandlerClass;
}

function ignore(): void {}
