/**
 * @socketserver/mixin-threading: `ThreadingMixIn` runs each request's
 * handler in a pool of worker threads, for handlers that use the CPU; the
 * main thread keeps the socket and moves the bytes. `SharedState` and `Lock`
 * share memory, with a real lock, between the main thread and the workers.
 *
 * @module
 */
export type { BridgedSocket } from './bridged-socket.js';
export type { SerializedError } from './errors.js';
export { RequestTimeLimitError, WorkerExitedError } from './errors.js';
export { Lock } from './lock.js';
export type {
  SharedArrayFor,
  SharedFieldSpec,
  SharedFields,
  SharedFieldType,
  SharedSchema,
} from './shared-state.js';
export { SharedState } from './shared-state.js';
export type { ThreadingServer } from './threading-mixin.js';
export { ThreadingMixIn } from './threading-mixin.js';
