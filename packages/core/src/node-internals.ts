/**
 * Every use of Node.js internals in @socketserver, in one place. Node has no
 * public API for these; each is covered by `test/node-internals.test.ts`,
 * which fails loudly (naming the function) when a Node release changes what
 * it relies on. Nothing else in the project may reach into Node's objects.
 *
 * - {@link handleFd}: the file descriptor of a listening socket (`fileno()`).
 * - {@link stopReading}: stop a socket's handle from reading, so bytes stay in
 *   the kernel for the process a connection is handed to.
 * - {@link watchHandleAcks}: Node's own acknowledgement that a child process
 *   received a socket sent over IPC.
 * - {@link canMoveSockets}: whether this Node line can move an accepted TCP
 *   socket to a worker thread (detected by what Node does, not its version).
 *
 * @module
 */
import type { ChildProcess } from 'node:child_process';
import { Socket } from 'node:net';
import { MessageChannel } from 'node:worker_threads';

/** A handle as Node keeps it under a `net.Server`, `dgram.Socket` or `net.Socket`. */
interface InternalHandle {
  fd?: number;
  reading?: boolean;
  readStop?: () => number;
}

/**
 * The file descriptor under a Node `net.Server` or `dgram.Socket`, or -1.
 * Internal: `net.Server#_handle.fd`, or the `dgram.Socket`'s
 * `Symbol(state symbol)` record's `handle.fd`.
 */
export function handleFd(owner: object | null): number {
  if (owner === null) return -1;
  const state = Object.getOwnPropertySymbols(owner)
    .filter((symbol) => symbol.description === 'state symbol')
    .map((symbol) => (owner as Record<symbol, { handle?: InternalHandle }>)[symbol]?.handle)[0];
  const handle = state ?? (owner as { _handle?: InternalHandle })._handle;
  return typeof handle?.fd === 'number' ? handle.fd : -1;
}

/**
 * Stops the socket's handle from reading, as `pauseOnConnect` leaves an
 * accepted socket: `socket.pause()` alone stops delivering data but (after a
 * `read()`) libuv may go on reading into this process. Bytes the peer sends
 * next stay in the kernel, for whoever the connection is handed to.
 * Internal: `net.Socket#_handle.readStop()` and its `reading` flag.
 */
export function stopReading(socket: Socket): void {
  const handle = (socket as unknown as { _handle?: InternalHandle | null })._handle;
  if (handle?.readStop === undefined) return;
  handle.reading = false;
  handle.readStop();
}

/** What {@link watchHandleAcks} reports. */
export interface HandleAckListener {
  /** The child received the handle sent last (it owns the descriptor now). */
  onAck(): void;
  /** The child could not receive it (for example it had no free descriptor). */
  onNack(): void;
}

/**
 * Calls `listener` when Node's IPC layer reports that `child` received a
 * handle sent with `child.send(message, handle)` (or could not). Node sends
 * one handle at a time and waits for this acknowledgement before the next.
 * Returns a function that stops listening. Internal: the `'internalMessage'`
 * event and its `NODE_HANDLE_ACK` / `NODE_HANDLE_NACK` commands.
 */
export function watchHandleAcks(child: ChildProcess, listener: HandleAckListener): () => void {
  const onInternal = (message: { cmd?: unknown } | null) => {
    if (message?.cmd === 'NODE_HANDLE_ACK') listener.onAck();
    else if (message?.cmd === 'NODE_HANDLE_NACK') listener.onNack();
  };
  child.on('internalMessage', onInternal);
  return () => child.off('internalMessage', onInternal);
}

let movable: boolean | undefined;

/**
 * Whether this Node line can move an accepted TCP socket to a worker thread
 * (`port.postMessage({ socket }, [socket])`: 24.21 and later, 26). Detected
 * once, by how Node refuses a socket that cannot move: lines that can move
 * sockets refuse an unconnected one with `ERR_WORKER_HANDLE_NOT_TRANSFERABLE`
 * ("not in a state to be transferred"); older lines refuse any socket as an
 * object that cannot be transferred at all. Unix stream sockets are refused
 * on every line, so this is about TCP only.
 */
export function canMoveSockets(): boolean {
  if (movable !== undefined) return movable;
  const { port1, port2 } = new MessageChannel();
  const probe = new Socket();
  try {
    port1.postMessage(probe, [probe as never]);
    movable = true; // not expected: an unconnected socket moved
  } catch (error) {
    movable = (error as { code?: unknown }).code === 'ERR_WORKER_HANDLE_NOT_TRANSFERABLE';
  } finally {
    probe.destroy();
    port1.close();
    port2.close();
  }
  return movable;
}
