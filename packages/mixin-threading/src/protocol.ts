/**
 * The messages between the main thread and a worker thread. Internal.
 *
 * Everything travels over the worker's own channel (`worker.postMessage` /
 * `parentPort`), in order: the worker reports `ready` or `loadError` once,
 * then receives one `request` at a time. Each request has a sequence number
 * `r`; every message about it carries `r`, so a late message about an
 * earlier request is recognised and dropped. (A `MessageChannel` per request
 * would cost a port transfer, about 40 us of main-thread time, per request.)
 *
 * @module
 */

import type { Address } from '@socketserver/core';
import type { SerializedError } from './errors.js';

/** Bytes either side may send before the other acknowledges them (each direction). */
export const CREDIT = 64 * 1024;
/** Acknowledge once this many bytes were consumed (a quarter of the credit). */
export const ACK_EVERY = CREDIT / 4;

/** What a worker is started with (`workerData`). */
export interface WorkerBoot {
  handler: { moduleUrl: string; exportName: string };
  /** The server's data fields, Locks and SharedStates packed. */
  server: Record<string, unknown>;
}

/** Worker to main, on the worker's own channel. */
export type WorkerStatus = { type: 'ready' } | { type: 'loadError'; error: SerializedError };

/** The peer's details a stream handler may read from `request` (a `net.Socket`'s fields). */
export interface SocketInfo {
  remoteAddress?: string | undefined;
  remotePort?: number | undefined;
  remoteFamily?: string | undefined;
  localAddress?: string | undefined;
  localPort?: number | undefined;
  localFamily?: string | undefined;
}

/** Main to worker: run one request, numbered `r`. */
export type RequestStart =
  | {
      type: 'request';
      r: number;
      kind: 'stream';
      clientAddress: Address;
      socket: SocketInfo;
    }
  | {
      type: 'request';
      r: number;
      kind: 'datagram';
      clientAddress: Address;
      packet: Uint8Array;
    };

/** Main to worker, about request `r` (the bridge adds `r`). */
export type ToWorker =
  | { t: 'data'; chunk: Uint8Array }
  | { t: 'end' }
  | { t: 'error'; error: SerializedError }
  | { t: 'close' }
  | { t: 'ack'; n: number }
  | { t: 'sent'; id: number }
  | { t: 'sendError'; id: number; error: SerializedError };

/** Worker to main, about request `r` (the sender adds `r`). */
export type ToMain =
  | { t: 'write'; chunk: Uint8Array }
  | { t: 'ack'; n: number }
  | { t: 'fin' }
  | { t: 'destroy' }
  | { t: 'noDelay'; value: boolean }
  | { t: 'keepAlive'; enable: boolean; delay: number }
  | { t: 'send'; id: number; data: Uint8Array; address: Address }
  | { t: 'done' }
  | { t: 'fail'; error: SerializedError };

/** A message about request `r`, as it travels. */
export type Tagged<M> = M & { r: number };

/** Several worker-to-main messages sent as one (the worker batches each turn of its event loop). */
export interface Batch {
  batch: Array<Tagged<ToMain> | Uint8Array>;
}

/**
 * Chunks of bytes below this size travel as a **frame**: one `Uint8Array`
 * holding a {@link FRAME_HEADER}-byte header (the request number, the kind)
 * and then the bytes, instead of a `{ t, chunk, r }` object. A bare typed
 * array is much cheaper for the channel to clone and for the receiving
 * thread to rebuild than an object with named fields (no property names to
 * hash, no shapes to build), and the copy that is needed anyway (the sender
 * may reuse its buffer) is the one into the frame. Larger chunks keep the
 * object form, whose buffer is transferred without a copy.
 */
export const FRAME_BELOW = 16 * 1024;
/** Bytes before a frame's payload: request number (uint32, little endian), kind, padding. */
export const FRAME_HEADER = 8;
/** A frame from main to worker: bytes received from the peer (the `data` message). */
export const FRAME_DATA = 1;
/** A frame from worker to main: bytes the handler wrote (the `write` message). */
export const FRAME_WRITE = 2;

/** Builds a frame of `kind` about request `r` carrying a copy of `bytes`. */
export function frame(kind: number, r: number, bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER + bytes.byteLength);
  const n = r >>> 0;
  out[0] = n & 0xff;
  out[1] = (n >>> 8) & 0xff;
  out[2] = (n >>> 16) & 0xff;
  out[3] = n >>> 24;
  out[4] = kind;
  out.set(bytes, FRAME_HEADER);
  return out;
}

/**
 * True when `message` is a frame of `kind` about request `r` (compared on
 * its low 32 bits: only the previous request's late messages can reach a
 * worker's current one, so they never collide).
 */
export function isFrameOf(message: Uint8Array, kind: number, r: number): boolean {
  const n = (message[0]! | (message[1]! << 8) | (message[2]! << 16) | (message[3]! << 24)) >>> 0;
  return message[4] === kind && n === r >>> 0;
}

/** The bytes a frame carries, as a `Buffer` over the frame's memory (no copy). */
export function framePayload(message: Uint8Array): Buffer {
  return Buffer.from(
    message.buffer,
    message.byteOffset + FRAME_HEADER,
    message.byteLength - FRAME_HEADER,
  );
}
