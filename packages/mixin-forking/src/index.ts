/**
 * @socketserver/mixin-forking: Python's `ForkingMixIn` for
 * `@socketserver/core`, on child processes that own their connections,
 * each serving many requests at once. Built on core's host layer
 * (`@socketserver/core/host`).
 *
 * - {@link ForkingMixIn}: `class ForkingTCPServer extends ForkingMixIn(TCPServer) {}`.
 * - {@link forkHandoff}: from `handle()`, hand a connection (with the bytes
 *   already read) to a child that finishes the request.
 * - {@link ChildPool}: children for hand-offs, sized and closed by you.
 *
 * @module
 */
export { HandoffError, HostExitedError, RequestTimeLimitError } from '@socketserver/core/host';
export type { ChildPoolSettings } from './child-pool.js';
export { ChildPool, DEFAULT_CHILD_POOL_SETTINGS } from './child-pool.js';
export type { ForkHandoffOptions, HandoffResult, HandoffSource } from './fork-handoff.js';
export { defaultChildPool, forkHandoff } from './fork-handoff.js';
export type { ForkingServer } from './forking-mixin.js';
export { ForkingMixIn } from './forking-mixin.js';
