/**
 * `ForkingMixIn`: handlers run in child processes (Python's
 * `socketserver.ForkingMixIn`), each child serving many requests at once on
 * its own event loop.
 *
 * @module
 */
import { availableParallelism } from 'node:os';
import type { ServerClass } from '@socketserver/core';
import { type HostedServer, HostMixIn, hostPoolOf, processDriver } from '@socketserver/core/host';

/** What `ForkingMixIn` adds to a server (besides the host settings of {@link HostedServer}). */
export interface ForkingServer extends HostedServer {
  /** The most child processes alive at once, starting and exiting ones included (default: the cores). */
  maxChildren: number;
  /** Process ids of the live children (Python's `active_children`; a set, empty when none). */
  readonly activeChildren: Set<number>;
  /**
   * Python's `collect_children`. Idle children retire on their own after
   * `hostIdleTimeout`; with `blocking`, asks every child to exit once its
   * requests are done and resolves when all have. Called by
   * `serviceActions` and `handleTimeout`.
   */
  collectChildren(options?: { blocking?: boolean }): Promise<void>;
}

/**
 * Mix-in that runs handlers in child processes (Python's `ForkingMixIn`).
 * Overrides `processRequest`; extends `serverActivate` (start the first
 * child, which imports the handler), `serverClose`, and, through `super`
 * as Python's does, `serviceActions` and `handleTimeout`.
 *
 * ```ts
 * class ForkingTCPServer extends ForkingMixIn(TCPServer) {}
 * ```
 *
 * Node.js cannot `fork()` the running process, so children are Node.js
 * processes that import the handler's module: the handler class says where
 * it is (`static moduleUrl = import.meta.url`, which the types require), in
 * a module that starts no server when imported.
 *
 * - Stream servers hand each accepted connection to a child (IPC handle
 *   passing); the child reads, writes and ends it itself.
 * - Datagram servers pass each packet and client address to a child; the
 *   child's replies leave from the server's own socket.
 *
 * Each child serves up to `hostConcurrency` requests at once
 * (`hostConcurrency: 1` with `maxRequestsPerHost: 1` is Python's fresh
 * process per request). State a handler changes in a child never reaches
 * the parent or the other children: `this.server` in a child is a snapshot
 * of the server's data fields.
 */
export function ForkingMixIn<TBase extends ServerClass>(
  Base: TBase,
): TBase & (abstract new (...args: any[]) => ForkingServer) {
  abstract class ForkingMixed
    extends HostMixIn(Base, { driver: processDriver, maxHostsField: 'maxChildren' })
    implements ForkingServer
  {
    /** `handleRequest`'s wait, in ms (300,000, as Python's `ForkingMixIn.timeout`). */
    override timeout: number | null = 300_000;
    maxChildren = availableParallelism();

    get activeChildren(): Set<number> {
      return hostPoolOf(this)?.hostIds ?? new Set();
    }

    async collectChildren({ blocking = false }: { blocking?: boolean } = {}): Promise<void> {
      await hostPoolOf(this)?.collect({ blocking });
    }

    /** Runs the base's actions, then `collectChildren()`. May be extended, do not override. */
    override async serviceActions(): Promise<void> {
      await super.serviceActions();
      await this.collectChildren();
    }

    /** Runs the base's timeout handling, then `collectChildren()`. May be extended, do not override. */
    override async handleTimeout(): Promise<void> {
      await super.handleTimeout();
      await this.collectChildren();
    }
  }
  return ForkingMixed;
}
