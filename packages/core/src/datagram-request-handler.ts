import { BaseRequestHandler } from './base-request-handler.js';
import { Reader } from './reader.js';
import type { Address, DatagramRequest, DatagramSender } from './types.js';
import { BufferWriter } from './writer.js';

/**
 * A handler for datagram servers (Python's `DatagramRequestHandler`).
 * `packet` is the datagram, `rfile` reads it, and what the handler writes to
 * `wfile` is sent back to `clientAddress` as one datagram after `finish`
 * (nothing written: nothing sent).
 */
export class DatagramRequestHandler<A extends Address = Address> extends BaseRequestHandler<
  DatagramRequest<A>,
  A
> {
  /** The datagram's bytes. */
  packet!: Buffer;
  /** The server's socket, to send datagrams from (`this.socket.sendTo(data, address)`). */
  socket!: DatagramSender<A>;
  /** Reads `packet`. */
  rfile!: Reader;
  /** Collects the reply. */
  wfile!: BufferWriter;

  /** Prepares `packet`, `socket`, `rfile` and `wfile`. May be extended, do not override. */
  override setup(): void {
    this.packet = this.request.packet;
    this.socket = this.request.socket;
    this.rfile = Reader.from(this.packet);
    this.wfile = new BufferWriter();
  }

  /** Sends what was written to `wfile`, if anything. May be extended, do not override. */
  override finish(): Promise<void> | undefined {
    const reply = this.wfile.getValue();
    return reply.length > 0 ? this.socket.sendTo(reply, this.clientAddress) : undefined;
  }
}
