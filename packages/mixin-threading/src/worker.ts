/**
 * The script each worker thread of a `ThreadingMixIn` server runs: it
 * imports the handler class (through core's `loadHandler`, which marks the
 * thread so a module that starts a server fails loudly), reports `ready`,
 * then runs one request at a time; messages about it carry its number.
 *
 * @module
 */

import { parentPort, workerData } from 'node:worker_threads';
import { type Address, type DatagramRequest, loadHandler } from '@socketserver/core';
import { BridgedSocket } from './bridged-socket.js';
import { reviveError, serializeError } from './errors.js';
import {
  type Batch,
  FRAME_DATA,
  FRAME_WRITE,
  frame,
  framePayload,
  isFrameOf,
  type RequestStart,
  type Tagged,
  type ToMain,
  type ToWorker,
  type WorkerBoot,
  type WorkerStatus,
} from './protocol.js';
import { unpackShared } from './shared-state.js';

type HandlerClass = new (
  request: unknown,
  clientAddress: Address,
  server: unknown,
) => { run(): Promise<void> };

const port = parentPort;
if (port === null)
  throw new Error('@socketserver/mixin-threading worker.js runs only as a worker thread');

const boot = workerData as WorkerBoot;

/** `this.server` in a worker: the server's data fields, with shared state rebuilt over the same memory. */
const server = unpackShared(boot.server) as Record<string, unknown>;

async function start(): Promise<HandlerClass> {
  let lateFailure: unknown = null;
  const onRejection = (reason: unknown) => {
    lateFailure ??= reason;
  };
  process.on('unhandledRejection', onRejection);
  try {
    const HandlerClass = (await loadHandler(boot.handler)) as HandlerClass;
    // A module that starts a server without awaiting it fails a tick later.
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    if (lateFailure !== null) throw lateFailure;
    return HandlerClass;
  } finally {
    process.off('unhandledRejection', onRejection);
  }
}

function post(message: WorkerStatus): void {
  port!.postMessage(message);
}

/**
 * Messages to the main thread, sent together once the current turn of the
 * event loop is over: a handler's last write and its `done` then cost the
 * main thread one wake-up instead of two.
 */
const outbox = {
  messages: [] as Array<Tagged<ToMain> | Uint8Array>,
  transfer: [] as ArrayBuffer[],
  scheduled: false,
  add(message: Tagged<ToMain> | Uint8Array, transfer?: ArrayBuffer[]): void {
    this.messages.push(message);
    if (transfer !== undefined) this.transfer.push(...transfer);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  },
  flush(): void {
    this.scheduled = false;
    const { messages, transfer } = this;
    if (messages.length === 1) port!.postMessage(messages[0], transfer);
    else port!.postMessage({ batch: messages } satisfies Batch, transfer);
    this.messages = [];
    if (transfer.length > 0) this.transfer = [];
  },
};

/** The request running now: its number and where its messages go. */
let current: {
  r: number;
  receive: (message: ToWorker) => void;
  receiveData: (chunk: Buffer) => void;
} | null = null;

async function runRequest(HandlerClass: HandlerClass, start: RequestStart): Promise<void> {
  const { r } = start;
  const send = (message: ToMain, transfer?: ArrayBuffer[]) =>
    outbox.add({ ...message, r }, transfer);
  const sendBytes = (bytes: Uint8Array) => outbox.add(frame(FRAME_WRITE, r, bytes));
  let socket: BridgedSocket | null = null;
  const pendingSends = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
  let request: unknown;
  if (start.kind === 'stream') {
    socket = new BridgedSocket(send, sendBytes, start.socket);
    socket.on('error', () => {}); // errors reach the handler through rfile/wfile
    request = socket;
  } else {
    let nextId = 0;
    const sender = {
      sendTo(data: Uint8Array, address: Address): Promise<void> {
        const id = nextId++;
        const copy = Uint8Array.from(data);
        return new Promise<void>((resolve, reject) => {
          pendingSends.set(id, { resolve, reject });
          send({ t: 'send', id, data: copy, address });
        });
      },
    };
    const packet = Buffer.from(
      start.packet.buffer,
      start.packet.byteOffset,
      start.packet.byteLength,
    );
    request = { packet, socket: sender } satisfies DatagramRequest;
  }
  current = {
    r,
    receive: (message: ToWorker) => {
      if (message.t === 'sent' || message.t === 'sendError') {
        const pending = pendingSends.get(message.id);
        pendingSends.delete(message.id);
        if (message.t === 'sent') pending?.resolve();
        else pending?.reject(reviveError(message.error));
        return;
      }
      socket?.receive(message);
    },
    receiveData: (chunk: Buffer) => socket?.receiveData(chunk),
  };
  let outcome: ToMain;
  try {
    await new HandlerClass(request, start.clientAddress, server).run();
    outcome = { t: 'done' };
  } catch (error) {
    outcome = { t: 'fail', error: serializeError(error) };
  }
  if (socket !== null) await socket.flushWrites();
  socket?.detach();
  if (current?.r === r) current = null;
  send(outcome);
}

async function main(): Promise<void> {
  let HandlerClass: HandlerClass;
  try {
    HandlerClass = await start();
  } catch (error) {
    post({ type: 'loadError', error: serializeError(error) });
    return;
  }
  server.RequestHandlerClass = HandlerClass;
  port!.on('message', (message: RequestStart | Tagged<ToWorker> | Uint8Array) => {
    if (message instanceof Uint8Array) {
      if (current !== null && isFrameOf(message, FRAME_DATA, current.r)) {
        current.receiveData(framePayload(message));
      }
    } else if ('type' in message) void runRequest(HandlerClass, message);
    else if (current !== null && message.r === current.r) current.receive(message);
  });
  post({ type: 'ready' });
}

void main();
