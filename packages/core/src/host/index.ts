/**
 * `@socketserver/core/host`: the host layer `ThreadingMixIn` and
 * `ForkingMixIn` stand on. A pool of hosts (worker threads or child
 * processes, each serving many requests at once on its own event loop), a
 * driver for each kind, one settings vocabulary, one wire format for
 * errors, one server snapshot, and the host runtime carried as a string (no
 * script file to find, so bundled apps work).
 *
 * For mix-in authors; applications use `ThreadingMixIn` and `ForkingMixIn`.
 * `SharedState` and `Lock` (memory shared with worker threads) are
 * re-exported by `@socketserver/mixin-threading`.
 *
 * @module
 */

export { canMoveSockets, stopReading } from '../node-internals.js';
export type { HostKind } from './errors.js';
export { HandoffError, HostExitedError, hostLabel, RequestTimeLimitError } from './errors.js';
export { Lock } from './lock.js';
export type { HostedServer, HostMixInSpec } from './mixin.js';
export { HostMixIn, hostPoolOf, kHostPool } from './mixin.js';
export type { HostDriver, HostEvents, HostJob, HostPoolOptions, HostProcess } from './pool.js';
export { HostPool } from './pool.js';
export { processDriver } from './process-driver.js';
export type { HostPoolSettings } from './settings.js';
export {
  DEFAULT_HOST_CONCURRENCY,
  defaultHostPoolSettings,
  inheritedExecArgv,
  validateHostPoolSettings,
} from './settings.js';
export type {
  SharedArrayFor,
  SharedFieldSpec,
  SharedFields,
  SharedFieldType,
  SharedSchema,
} from './shared-state.js';
export { SharedState } from './shared-state.js';
export { snapshotServer } from './snapshot.js';
export { threadDriver } from './thread-driver.js';
export type { HostBoot, ModuleExport, WireError } from './wire.js';
export { fromWire, registerErrorClasses, toWire } from './wire.js';
