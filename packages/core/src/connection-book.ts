/**
 * A stream server's record of its connections: the ones open, the bytes of
 * those closed, and the connection channels. A connection served in a
 * worker thread or child process is the host layer's to end: the server's
 * copy of it may close long before (it was moved or handed over), so it
 * stays open here until its request ends, with the bytes its host reports.
 *
 * @module
 */
import type { Socket } from 'node:net';
import { connectionClosed, connectionOpened, type ServerCounters } from './observe.js';
import type { Address } from './types.js';

/** A connection's bytes, as the host that served it counts them: read, written. */
export type ConnectionIO = readonly [bytesRead: number, bytesWritten: number];

/** Set on a connection whose end the host layer reports. */
const kHosted = Symbol('hosted');
type Booked = Socket & { [kHosted]?: boolean };

/** A stream server's method that hands a connection's end to the host layer (see {@link ConnectionBook.hosted}). @internal */
export const kHostedConnection: unique symbol = Symbol.for(
  '@socketserver/core.hostedConnection',
) as never;

/** A stream server's connections, for `stats()` and the connection channels. @internal */
export class ConnectionBook {
  /** Connections open now (queued, being handled, draining, or served in a host). */
  readonly open = new Set<Socket>();
  readonly #server: object;
  readonly #counters: ServerCounters;
  /** One 'close' listener shared by every connection, not a closure each. */
  readonly #closed: (this: Socket) => void;

  constructor(server: object, counters: ServerCounters) {
    this.#server = server;
    this.#counters = counters;
    const book = this;
    this.#closed = function (this: Socket) {
      if ((this as Booked)[kHosted] !== true) book.#end(this, this.bytesRead, this.bytesWritten);
    };
  }

  /** Records an accepted connection. */
  opened(socket: Socket, peer: Address): void {
    this.#counters.accepted++;
    this.open.add(socket);
    socket.on('close', this.#closed); // 'close' comes once: `on` keeps no wrapper per socket, as `once` would
    connectionOpened(this.#server, socket, peer);
  }

  /**
   * The host layer serves this connection: it is over for the server when
   * the returned function is called (with the bytes its host counted, or
   * none: the server's copy has them).
   */
  hosted(socket: Socket): (io?: ConnectionIO) => void {
    (socket as Booked)[kHosted] = true;
    return (io) => {
      if (this.open.has(socket)) {
        this.#end(socket, io?.[0] ?? socket.bytesRead, io?.[1] ?? socket.bytesWritten);
      }
    };
  }

  /** Bytes received and sent on the connections open now (a host's are counted when it ends them). */
  liveBytes(): ConnectionIO {
    let read = 0;
    let written = 0;
    for (const socket of this.open) {
      if ((socket as Booked)[kHosted] === true) continue;
      read += socket.bytesRead;
      written += socket.bytesWritten;
    }
    return [read, written];
  }

  #end(socket: Socket, bytesRead: number, bytesWritten: number): void {
    this.open.delete(socket);
    this.#counters.bytesIn += bytesRead;
    this.#counters.bytesOut += bytesWritten;
    connectionClosed(this.#server, socket, bytesRead, bytesWritten);
  }
}
