/**
 * A host's line to its server: the worker thread's port, or the child
 * process's IPC channel.
 *
 * @module
 */
import { parentPort } from 'node:worker_threads';
import { RecordWriter } from '../records.js';
import type { FromHost, ToHost } from '../wire.js';

/** How a host talks to its server. */
export interface Channel {
  /** True in a worker thread. */
  readonly thread: boolean;
  /** Sends a message (a thread sends it with the turn's batch, after the turn's records). */
  post(message: FromHost): void;
  /** Adds a bridged-connection record to the turn's batch (threads only). */
  record(id: number, type: number, payload?: Uint8Array): void;
  /** Calls `listener` for each message from the server (with the handle a child received). */
  listen(listener: (message: ToHost, handle?: unknown) => void): void;
  /** Whether the server is still there (a child's channel can close under it). */
  readonly connected: boolean;
  /** Calls `then` once everything posted so far has left (before the host exits). */
  whenSent(then: () => void): void;
}

/**
 * A worker thread's channel. Everything it sends in one turn of its event
 * loop leaves as one message, once the turn is over: the records first,
 * then the other messages in order (so a handler's last writes reach the
 * server before its `done`), and the server's thread wakes once.
 */
export function threadChannel(): Channel {
  const port = parentPort!;
  const records = new RecordWriter();
  let messages: FromHost[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    const b = records.take();
    const m = messages;
    messages = [];
    if (b === null && m.length === 1) port.postMessage(m[0]);
    else
      port.postMessage(
        { t: 'batch', b, m } satisfies FromHost,
        b === null ? [] : [b.buffer as ArrayBuffer],
      );
  };
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(flush);
  };
  return {
    thread: true,
    connected: true,
    post(message) {
      messages.push(message);
      schedule();
    },
    record(id, type, payload) {
      records.add(id, type, payload);
      schedule();
    },
    listen(listener) {
      port.on('message', (message: ToHost) => listener(message));
    },
    whenSent(then) {
      // The turn's batch is flushed by an immediate queued before this one.
      setImmediate(then);
    },
  };
}

/** A child process's channel: Node's IPC, with `advanced` serialization. */
export function processChannel(): Channel {
  let unsent = 0;
  let waiting: Array<() => void> = [];
  const sent = () => {
    unsent--;
    if (unsent > 0) return;
    for (const then of waiting.splice(0)) then();
  };
  return {
    thread: false,
    get connected() {
      return process.connected;
    },
    post(message) {
      if (!process.connected) return;
      unsent++;
      try {
        process.send!(message, undefined, undefined, sent);
      } catch {
        // The server is gone: 'disconnect' ends this process.
        sent();
      }
    },
    whenSent(then) {
      if (unsent === 0 || !process.connected) {
        then();
        return;
      }
      waiting.push(then);
      // A channel that never drains must not keep a dying host alive.
      setTimeout(() => {
        if (!waiting.includes(then)) return;
        waiting = waiting.filter((other) => other !== then);
        then();
      }, 1_000).unref();
    },
    record() {
      throw new Error('a child process has no bridged connections');
    },
    listen(listener) {
      process.on('message', (message: ToHost, handle: unknown) => listener(message, handle));
    },
  };
}
