/**
 * @socketserver/mixin-forking: Python's `ForkingMixIn` for
 * `@socketserver/core`, on child processes that own their connections.
 *
 * - {@link ForkingMixIn}: `class ForkingTCPServer extends ForkingMixIn(TCPServer) {}`.
 * - {@link forkHandoff}: from `handle()`, hand a connection (with the bytes
 *   already read) to a child that finishes the request.
 * - {@link ChildPool}: the children, reused, bounded, replaced when they die.
 *
 * @module
 */
export type { ChildPoolSettings } from './child-pool.js';
export { ChildPool, DEFAULT_CHILD_POOL_SETTINGS } from './child-pool.js';
export { ChildExitedError, HandoffError } from './errors.js';
export type { ForkHandoffOptions, HandoffResult, HandoffSource } from './fork-handoff.js';
export { defaultChildPool, forkHandoff } from './fork-handoff.js';
export type { ForkingServer } from './forking-mixin.js';
export { ForkingMixIn } from './forking-mixin.js';
