/**
 * The child-process driver: hosts are Node.js child processes. A connection
 * is handed to its child with the IPC channel's handle passing, and the
 * child reads and writes it itself; a datagram is passed as bytes, and the
 * child's replies leave from the server's socket.
 *
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import { watchHandleAcks } from '../node-internals.js';
import type { DatagramRequest } from '../types.js';
import { HandoffError } from './errors.js';
import type { HostDriver, HostEvents, HostJob, HostProcess } from './pool.js';
import { BOOTSTRAP, HOST_RUNTIME } from './script.js';
import { type HostPoolSettings, inheritedExecArgv } from './settings.js';
import type { FromHost, HostBoot, StartMessage, ToHost } from './wire.js';

/** How long to wait for the IPC channel to deliver a dead child's last messages (ms). */
const DISCONNECT_GRACE = 1_000;

/** Starts child processes as hosts. */
export const processDriver: HostDriver = {
  kind: 'process',
  start: (boot, events, settings) => new ChildHost(boot, events, settings),
};

/** One child process. */
class ChildHost implements HostProcess {
  #child: ChildProcess;
  #events: HostEvents;
  /** Requests whose connection is on its way, in the order Node sends handles. */
  #handoffs: number[] = [];

  constructor(boot: HostBoot, events: HostEvents, settings: HostPoolSettings) {
    this.#events = events;
    const execArgv = settings.hostExecArgv ?? inheritedExecArgv();
    const child = spawn(process.execPath, [...execArgv, '-e', BOOTSTRAP], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
      windowsHide: true,
    });
    this.#child = child;
    child.on('message', (message: FromHost) => events.message(message));
    watchHandleAcks(child, {
      onAck: () => {
        const id = this.#handoffs.shift();
        if (id !== undefined) events.dispatched(id);
      },
      onNack: () => {
        // The child could not take the descriptor (none free): the request fails.
        const id = this.#handoffs.shift();
        if (id !== undefined) {
          events.failed(
            id,
            new HandoffError(`child process ${child.pid} could not receive the connection`),
          );
        }
      },
    });
    child.on('error', (error) => {
      // Spawning failed (no pid): 'exit' may not follow.
      if (child.pid === undefined) events.exit(null, null, error);
    });
    child.once('exit', (code, signal) => {
      if (!child.connected) {
        events.exit(code, signal);
        return;
      }
      // Messages the child sent before exiting arrive before the channel's end.
      const timer = setTimeout(() => events.exit(code, signal), DISCONNECT_GRACE);
      child.once('disconnect', () => {
        clearTimeout(timer);
        events.exit(code, signal);
      });
    });
    if (child.pid !== undefined) this.#send({ source: HOST_RUNTIME, boot } as never);
  }

  get id(): number | undefined {
    return this.#child.pid;
  }

  dispatch(id: number, job: HostJob): void {
    const message: StartMessage = { t: 'start', id, kind: 'socket', addr: job.clientAddress };
    if (job.handler !== undefined) message.handler = job.handler;
    if (job.data !== undefined) message.data = job.data;
    if (job.server !== undefined) message.server = job.server;
    const request = job.request as DatagramRequest | Socket;
    if ('packet' in request && 'socket' in request) {
      message.kind = 'datagram';
      message.packet = new Uint8Array(request.packet);
      this.#send(message, undefined, (error) => this.#sent(id, error));
      return;
    }
    const socket = request as Socket;
    if (socket.destroyed) {
      // The peer went away while the request waited: nothing to serve.
      this.#events.message({ t: 'done', id });
      return;
    }
    if (job.prefix !== undefined && job.prefix.length > 0) message.prefix = job.prefix;
    this.#handoffs.push(id);
    // keepOpen: the descriptor stays open here until the message is written, then it is
    // destroyed (never ended: an end would send FIN for the child). A descriptor in flight to
    // a child that dies is released by the kernel, so the peer sees a close.
    this.#send(message, socket, (error) => {
      socket.destroy();
      this.#sent(id, error);
    });
  }

  release(): void {}

  send(message: ToHost): void {
    this.#send(message);
  }

  keepAlive(on: boolean): void {
    if (on) {
      this.#child.ref();
      this.#child.channel?.ref();
    } else {
      this.#child.unref();
      this.#child.channel?.unref();
    }
  }

  terminate(): void {
    this.#child.kill('SIGKILL');
  }

  #send(message: ToHost, handle?: Socket, callback?: (error: Error | null) => void): void {
    if (!this.#child.connected) {
      callback?.(new Error('the channel to the child process is closed'));
      return;
    }
    try {
      if (handle === undefined) this.#child.send(message, callback ?? ignore);
      else this.#child.send(message, handle, { keepOpen: true }, callback ?? ignore);
    } catch (error) {
      callback?.(error as Error);
    }
  }

  /** A message with a request was written, or failed: a channel that failed is broken. */
  #sent(id: number, error: Error | null): void {
    if (error === null) return;
    const index = this.#handoffs.indexOf(id);
    if (index >= 0) this.#handoffs.splice(index, 1);
    this.#events.failed(
      id,
      new HandoffError(
        `the request could not be handed to child process ${this.#child.pid}: ${error.message}`,
        {
          cause: error,
        },
      ),
    );
    this.#child.kill('SIGKILL');
  }
}

function ignore(): void {}
