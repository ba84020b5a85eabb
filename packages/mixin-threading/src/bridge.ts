/**
 * The main thread's half of a request running in a worker: a {@link Job}
 * holds the request until its outcome, and the bridges move a stream
 * request's bytes (with backpressure) or a datagram request's replies over
 * the worker's channel. Internal.
 *
 * @module
 */
import type { Socket } from 'node:net';
import type { Address, DatagramRequest } from '@socketserver/core';
import { reviveError, serializeError } from './errors.js';
import {
  ACK_EVERY,
  CREDIT,
  FRAME_BELOW,
  type SocketInfo,
  type ToMain,
  type ToWorker,
} from './protocol.js';

/** How a request reaches a worker: a connection's bytes, or one datagram. */
export type RequestKind = 'stream' | 'datagram';

/** Sends a message about this job to its worker (the pool adds the request number). */
export type SendToWorker = (message: ToWorker, transfer?: ArrayBuffer[]) => void;

/**
 * Sends a copy of bytes received from the peer to the job's worker as a
 * frame (see `FRAME_BELOW`; the pool adds the request number).
 */
export type SendBytesToWorker = (bytes: Uint8Array) => void;

/** One request on its way through the pool, until it has an outcome. */
export class Job {
  /** Settles with the request's outcome: resolves when the handler returned, rejects with its error. */
  readonly promise: Promise<void>;
  /** Called once when the job settles; `workerLost` when its worker cannot take another request. */
  onSettled: ((workerLost: boolean) => void) | null = null;
  #resolve!: () => void;
  #reject!: (error: Error) => void;
  #settled = false;
  #bridge: Bridge | null = null;
  #timer: NodeJS.Timeout | null = null;

  /**
   * @param kind - stream or datagram.
   * @param request - the server's request object.
   * @param clientAddress - the peer.
   */
  constructor(
    readonly kind: RequestKind,
    readonly request: unknown,
    readonly clientAddress: Address,
  ) {
    this.promise = new Promise<void>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.promise.catch(() => {});
  }

  /** True once the outcome is known. */
  get settled(): boolean {
    return this.#settled;
  }

  /** Connects the job to the worker now running it. */
  attach(send: SendToWorker, sendBytes: SendBytesToWorker): void {
    const guarded: SendToWorker = (message, transfer) => {
      if (!this.#settled) send(message, transfer);
    };
    const guardedBytes: SendBytesToWorker = (bytes) => {
      if (!this.#settled) sendBytes(bytes);
    };
    this.#bridge =
      this.kind === 'stream'
        ? bridgeStream(this, guarded, guardedBytes)
        : bridgeDatagram(this, guarded);
  }

  /** Delivers a message from the worker about this job. */
  receive(message: ToMain): void {
    if (!this.#settled) this.#bridge?.receive(message);
  }

  /** Delivers bytes the handler wrote (a frame's payload, see `FRAME_BELOW`). */
  receiveWrite(chunk: Buffer): void {
    if (!this.#settled) this.#bridge?.write(chunk);
  }

  /**
   * Fails the job with `error` after `ms` unless it settles first. The timer
   * does not keep the process alive by itself (a non-daemon worker does).
   */
  limit(ms: number, error: () => Error): void {
    this.#timer = setTimeout(() => this.settle(error(), true), ms);
    this.#timer.unref();
  }

  /**
   * Records the outcome (once): stops bridging, settles
   * the promise, and tells the pool whether the worker is still usable.
   */
  settle(error: Error | null, workerLost = false): void {
    if (this.#settled) return;
    this.#settled = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#bridge?.detach();
    if (error === null) this.#resolve();
    else this.#reject(error);
    this.onSettled?.(workerLost);
  }
}

/** What a stream handler in a worker may know about its connection. */
export function socketInfo(socket: Socket): SocketInfo {
  return {
    remoteAddress: socket.remoteAddress,
    remotePort: socket.remotePort,
    remoteFamily: socket.remoteFamily,
    localAddress: socket.localAddress,
    localPort: socket.localPort,
    localFamily: socket.localFamily,
  };
}

interface Bridge {
  receive(message: ToMain): void;
  /** Bytes the handler wrote. */
  write(chunk: Buffer): void;
  detach(): void;
}

function bridgeStream(job: Job, send: SendToWorker, sendBytes: SendBytesToWorker): Bridge {
  const socket = job.request as Socket;
  let inflight = 0; // bytes sent to the worker and not yet acknowledged
  let pausedHere = false;
  let unacked = 0; // bytes written for the worker and not yet acknowledged to it
  let waitingDrain = false;
  const ackWrites = () => {
    waitingDrain = false;
    if (unacked > 0) {
      send({ t: 'ack', n: unacked });
      unacked = 0;
    }
  };
  const onData = (chunk: Buffer) => {
    inflight += chunk.length;
    // Small chunks are copied into a frame; large ones that own their memory
    // move without a copy.
    if (chunk.length < FRAME_BELOW) sendBytes(chunk);
    else if (chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength)
      send({ t: 'data', chunk }, [chunk.buffer as ArrayBuffer]);
    else send({ t: 'data', chunk: Uint8Array.from(chunk) });
    if (inflight >= CREDIT && !pausedHere) {
      pausedHere = true;
      socket.pause();
    }
  };
  const onEnd = () => send({ t: 'end' });
  const onError = (error: Error) => send({ t: 'error', error: serializeError(error) });
  const onClose = () => send({ t: 'close' });
  const onDrain = () => {
    if (waitingDrain) ackWrites();
  };
  const write = (chunk: Buffer) => {
    unacked += chunk.byteLength;
    if (socket.destroyed || socket.writableEnded) {
      ackWrites();
      return;
    }
    const accepted = socket.write(chunk);
    if (!accepted) waitingDrain = true;
    else if (!waitingDrain && unacked >= ACK_EVERY) ackWrites();
  };
  const receive = (message: ToMain) => {
    switch (message.t) {
      case 'write': {
        const chunk = message.chunk;
        write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        break;
      }
      case 'ack':
        inflight -= message.n;
        if (pausedHere && inflight < CREDIT) {
          pausedHere = false;
          socket.resume();
        }
        break;
      case 'fin':
        if (!socket.destroyed) socket.end();
        break;
      case 'destroy':
        socket.destroy();
        break;
      case 'noDelay':
        if (typeof socket.setNoDelay === 'function') socket.setNoDelay(message.value);
        break;
      case 'keepAlive':
        if (typeof socket.setKeepAlive === 'function')
          socket.setKeepAlive(message.enable, message.delay);
        break;
      case 'done':
        job.settle(null);
        break;
      case 'fail':
        job.settle(reviveError(message.error));
        break;
      default:
        break;
    }
  };
  socket.on('data', onData);
  socket.on('end', onEnd);
  socket.on('error', onError);
  socket.on('close', onClose);
  socket.on('drain', onDrain);
  if (socket.destroyed) send({ t: 'close' });
  else socket.resume();
  const detach = () => {
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('error', onError);
    socket.off('close', onClose);
    socket.off('drain', onDrain);
    if (!socket.destroyed) socket.pause();
  };
  return { receive, write, detach };
}

function bridgeDatagram(job: Job, send: SendToWorker): Bridge {
  const request = job.request as DatagramRequest;
  const receive = (message: ToMain) => {
    switch (message.t) {
      case 'send': {
        const { id, data, address } = message;
        const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
        request.socket.sendTo(bytes, address).then(
          () => {
            send({ t: 'sent', id });
          },
          (error: unknown) => {
            send({ t: 'sendError', id, error: serializeError(error) });
          },
        );
        break;
      }
      case 'done':
        job.settle(null);
        break;
      case 'fail':
        job.settle(reviveError(message.error));
        break;
      default:
        break;
    }
  };
  return { receive, write: () => {}, detach: () => {} };
}
