/**
 * @socketserver/mixin-threading: `ThreadingMixIn` runs handlers in a pool of
 * worker threads, each serving many requests at once; on Node lines that
 * can (24.21 and later, 26) the worker owns each TCP connection. `SharedState`
 * and `Lock` share memory, with a real lock, between the main thread and the
 * workers. Built on core's host layer (`@socketserver/core/host`).
 *
 * @module
 */
export type {
  SharedArrayFor,
  SharedFieldSpec,
  SharedFields,
  SharedFieldType,
  SharedSchema,
} from '@socketserver/core/host';
export {
  HostExitedError,
  Lock,
  RequestTimeLimitError,
  SharedState,
} from '@socketserver/core/host';
export type { ThreadingServer } from './threading-mixin.js';
export { ThreadingMixIn } from './threading-mixin.js';
