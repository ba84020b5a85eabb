/**
 * How a stream request's connection ends, in one place for every mode: the
 * stream server in this process, and the host that owns a connection in a
 * worker thread or child process.
 *
 * @module
 */
import type { Socket } from 'node:net';

/** How long a finished connection may stay idle while its last bytes drain (ms). */
export const LINGER_TIMEOUT = 5_000;

/**
 * Ends the connection after its pending writes (Python's
 * `shutdown(SHUT_WR)`), then closes it as {@link closeConnection} does.
 */
export function endConnection(socket: Socket): void {
  if (!socket.destroyed && !socket.writableEnded) socket.end();
  closeConnection(socket);
}

/**
 * Closes the connection once its last bytes are delivered: unread input is
 * discarded, and a connection still open after {@link LINGER_TIMEOUT} is
 * destroyed. A connection not ended is destroyed at once.
 */
export function closeConnection(socket: Socket): void {
  if (socket.destroyed) return;
  if (!socket.writableEnded) {
    socket.destroy();
    return;
  }
  socket.setTimeout(LINGER_TIMEOUT, () => socket.destroy());
  socket.resume();
}
