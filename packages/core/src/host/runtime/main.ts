/**
 * The entry of the host runtime: the code every worker thread and child
 * process of a pool runs. It is bundled, with what it uses of core, into
 * one script that the host layer carries as a string (`script.ts`), so it
 * needs no file of its own at run time: it works the same when the app is
 * bundled. The bootstrap (see `script.ts`) compiles it and calls
 * {@link main}.
 *
 * @module
 */
import { isMainThread } from 'node:worker_threads';
import { markHandlerHost } from '../../handler-module.js';
import type { HostBoot } from '../wire.js';
import { toWire } from '../wire.js';
import { type Channel, processChannel, threadChannel } from './channel.js';
import { Host } from './host.js';
import type { ImportModule } from './load.js';

/** Starts the host: called by the bootstrap with what the server sent. */
export function main(boot: HostBoot, importModule: ImportModule): void {
  markHandlerHost();
  const channel = isMainThread ? processChannel() : threadChannel();
  const host = new Host(boot, channel, importModule);
  onUncaught(channel);
  if (!channel.thread) {
    process.on('disconnect', () => host.orphaned());
    // Ctrl-C (SIGINT) and a service manager's SIGTERM reach the whole process group, children
    // included. The server owns the lifecycle: it stops taking requests and retires each child
    // once its requests are done, and a child whose server is gone exits on 'disconnect'.
    // Dying here at once would cut the requests in flight.
    process.on('SIGINT', ignore);
    process.on('SIGTERM', ignore);
  }
  void host.start();
}

/** An error outside every handler's promise: report it, then die; the pool replaces this host. */
function onUncaught(channel: Channel): void {
  let dying = false;
  process.on('uncaughtException', (error) => {
    if (dying) return;
    dying = true;
    channel.post({ t: 'fatal', err: toWire(error) });
    channel.whenSent(() => process.exit(70));
  });
}

function ignore(): void {}
