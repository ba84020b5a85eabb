/**
 * The entry script of a child process of `ForkingMixIn` / `ChildPool`
 * (`dist/child.js`). It imports the handler's module (core's
 * `loadHandler`, which marks this process as a handler host), runs one
 * request at a time, owns the connections handed to it, and exits when the
 * parent retires it or its IPC channel to the parent closes.
 *
 * Not an API: it runs only as a child forked by the parent.
 *
 * @module
 */
import type { Socket } from 'node:net';
import {
  type Address,
  ClosedError,
  type DatagramSender,
  type HandlerLocation,
  loadHandler,
  markHandlerHost,
  SocketServerError,
} from '@socketserver/core';
import { HandoffError } from './errors.js';
import {
  type ChildMessage,
  deserializeError,
  type JobMessage,
  type ParentMessage,
  serializeError,
} from './protocol.js';

/** How long a finished connection may take to deliver its last bytes (ms), as in the parent. */
const LINGER_TIMEOUT = 5_000;
/** How long a handler module may take to load (ms). */
const LOAD_TIMEOUT = 30_000;
/** How long requests in progress may go on after the parent is gone (ms). */
const ORPHAN_GRACE = 5_000;

/**
 * The `server` a handler sees in a child: a copy of the parent server's
 * plain-data fields (see the README). Changes stay in this child.
 */
class ChildServer {}

const handlers = new Map<string, Promise<Function>>();
const servers = new Map<number, ChildServer>();
const running = new Set<Promise<void>>();
const lingering = new Set<Socket>();
const pendingSends = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
let nextSeq = 1;
let retiring = false;
let orphaned = false;
let dying = false;

function send(message: ChildMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected) {
      resolve();
      return;
    }
    try {
      process.send!(message, undefined, undefined, () => resolve());
    } catch {
      resolve();
    }
  });
}

function loadCached(location: HandlerLocation): Promise<Function> {
  const key = `${location.moduleUrl}#${location.exportName}`;
  let loading = handlers.get(key);
  if (loading === undefined) {
    loading = withTimeout(loadHandler(location), location);
    handlers.set(key, loading);
    loading.catch(() => handlers.delete(key));
  }
  return loading;
}

/** A module that never finishes loading (a top-level await that hangs) fails the request. */
function withTimeout(loading: Promise<Function>, location: HandlerLocation): Promise<Function> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new SocketServerError(
            'ERR_SOCKETSERVER_TIMEOUT',
            `${location.moduleUrl} did not finish loading within ${LOAD_TIMEOUT} ms`,
          ),
        ),
      LOAD_TIMEOUT,
    );
  });
  return Promise.race([loading, timeout]).finally(() => clearTimeout(timer));
}

function serverFor(message: JobMessage): ChildServer {
  let server = servers.get(message.sv);
  if (server === undefined) {
    server = Object.assign(new ChildServer(), message.snap ?? {});
    servers.set(message.sv, server);
  }
  return server;
}

function senderFor(id: number): DatagramSender<Address> {
  return {
    sendTo(data, address) {
      const seq = nextSeq++;
      return new Promise<void>((resolve, reject) => {
        if (!process.connected) {
          reject(new ClosedError('the channel to the parent process'));
          return;
        }
        pendingSends.set(seq, { resolve, reject });
        void send({
          t: 'sendto',
          id,
          seq,
          data: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64'),
          addr: address,
        });
      });
    },
  };
}

/** Ends a connection after its last bytes, discards unread input, destroys it after a linger. */
function shutdownConnection(socket: Socket): void {
  if (!socket.destroyed && !socket.writableEnded) socket.end();
  if (socket.destroyed) return;
  lingering.add(socket);
  socket.once('close', () => {
    lingering.delete(socket);
    maybeExit();
  });
  socket.setTimeout(LINGER_TIMEOUT, () => socket.destroy());
  socket.resume();
}

async function runJob(message: JobMessage, handle: unknown): Promise<void> {
  let failed = false;
  let error: unknown;
  let loadFailed = false;
  const socket = message.kind === 'stream' ? (handle as Socket | undefined) : undefined;
  try {
    if (message.kind === 'stream') {
      if (socket === undefined) {
        throw new HandoffError('the connection closed before the child process received it');
      }
      socket.on('error', ignore);
      // As the parent's server: the peer's end of input does not end our output.
      socket.allowHalfOpen = true;
      // Bytes the parent read before handing the connection over come first.
      if (message.pre !== undefined) socket.unshift(Buffer.from(message.pre, 'base64'));
    }
    let Handler: Function;
    try {
      Handler = await loadCached(message.h);
    } catch (loadError) {
      loadFailed = true;
      throw loadError;
    }
    const request =
      message.kind === 'stream'
        ? socket
        : { packet: Buffer.from(message.pkt ?? '', 'base64'), socket: senderFor(message.id) };
    const handler = new (Handler as new (...args: unknown[]) => { run(): Promise<void> })(
      request,
      message.addr,
      serverFor(message),
    );
    if (message.data !== undefined)
      (handler as { handoffData?: unknown }).handoffData = message.data;
    await handler.run();
  } catch (caught) {
    failed = true;
    error = caught;
  } finally {
    if (socket !== undefined) shutdownConnection(socket);
  }
  const done: ChildMessage = { t: 'done', id: message.id };
  if (failed) done.err = serializeError(error);
  if (loadFailed) {
    done.load = true;
    // A module that failed to load may have left anything behind: this child retires.
    retiring = true;
  }
  await send(done);
}

function maybeExit(): void {
  if (dying || !(retiring || orphaned)) return;
  if (running.size > 0 || lingering.size > 0) return;
  dying = true;
  process.exit(0);
}

function onMessage(message: ParentMessage, handle: unknown): void {
  switch (message?.t) {
    case 'job': {
      const task = runJob(message, handle).finally(() => {
        running.delete(task);
        maybeExit();
      });
      running.add(task);
      return;
    }
    case 'sent': {
      const pending = pendingSends.get(message.seq);
      if (pending === undefined) return;
      pendingSends.delete(message.seq);
      if (message.err) pending.reject(deserializeError(message.err, process.pid));
      else pending.resolve();
      return;
    }
    case 'retire': {
      retiring = true;
      maybeExit();
      return;
    }
  }
}

function ignore(): void {}

function main(): void {
  if (typeof process.send !== 'function') {
    process.stderr.write(
      '@socketserver/mixin-forking: child.js runs only as a child process of a ForkingMixIn server or ChildPool\n',
    );
    process.exitCode = 2;
    return;
  }
  markHandlerHost();
  process.on('uncaughtException', (error) => {
    // An error outside any handler's promise: report it, then die; the parent replaces this child.
    if (dying) return;
    dying = true;
    const timer = setTimeout(() => process.exit(70), 1_000);
    void send({ t: 'fatal', err: serializeError(error) }).then(() => {
      clearTimeout(timer);
      process.exit(70);
    });
  });
  process.on('disconnect', () => {
    // The parent is gone (or closed the channel): finish what runs, briefly, then exit.
    orphaned = true;
    for (const pending of pendingSends.values()) {
      pending.reject(new ClosedError('the channel to the parent process'));
    }
    pendingSends.clear();
    setTimeout(() => process.exit(0), ORPHAN_GRACE).unref();
    maybeExit();
  });
  // Ctrl-C (SIGINT) and a service manager's SIGTERM reach the whole process group, children
  // included. The parent owns the lifecycle: it stops taking requests and retires each child
  // once its request is done, and a child whose parent is gone exits on 'disconnect'. Dying
  // here at once would cut the request in flight.
  process.on('SIGINT', ignore);
  process.on('SIGTERM', ignore);
  process.on('message', onMessage);
  void send({ t: 'ready' });
}

main();
