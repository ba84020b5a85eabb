/**
 * The server as handlers in hosts see it: `this.server` in a worker thread
 * or child process is a snapshot of the server's data fields, taken when the
 * host starts.
 *
 * @module
 */
import { serialize } from 'node:v8';
import type { HostKind } from './errors.js';
import { packShared, unpackShared } from './shared-state.js';

/** Fields of a server that no host gets: live objects of the server's own process. */
const NOT_FOR_HOSTS = new Set(['socket', 'RequestHandlerClass', 'sender']);

/**
 * The server's own enumerable data fields that can reach a host of `kind`:
 * `serverAddress`, `timeout`, your own settings, `handlerSettings`, ...
 * Functions, sockets and values that cannot be cloned to the host are left
 * out. For a worker thread, every `SharedState` and `Lock` (directly, or in
 * plain objects and arrays) is packed to be rebuilt over the same memory
 * ({@link reviveSnapshot}); a child process cannot share memory, so it gets
 * neither.
 */
export function snapshotServer(server: object, kind: HostKind): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(server)) {
    if (NOT_FOR_HOSTS.has(key) || typeof value === 'function') continue;
    const packed = kind === 'thread' ? packShared(value) : value;
    if (sendable(packed, kind)) out[key] = packed;
  }
  return out;
}

/** The snapshot as a host's `this.server`: shared state rebuilt over the same memory. */
export function reviveSnapshot(snapshot: Record<string, unknown>): Record<string, unknown> {
  return unpackShared(snapshot) as Record<string, unknown>;
}

function sendable(value: unknown, kind: HostKind): boolean {
  if (typeof value === 'symbol' || typeof value === 'function') return false;
  if (typeof value !== 'object' || value === null) return true;
  try {
    if (kind === 'thread') structuredClone(value);
    else serialize(value);
    return true;
  } catch {
    return false;
  }
}
