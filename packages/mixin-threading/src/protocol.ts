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
  batch: Tagged<ToMain>[];
}
