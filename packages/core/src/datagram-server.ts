/**
 * `DatagramServer`: packet-per-request servers (UDP, Unix datagram).
 *
 * @module
 */
import { BaseServer } from './base-server.js';
import { kCounters } from './observe.js';
import type { Address, DatagramRequest, DatagramSender } from './types.js';

/**
 * Base class for datagram servers (the socket-type half of Python's
 * `UDPServer`). Each datagram is a request: `request` is
 * `{ packet, socket }`, and replies leave from the server's own socket.
 *
 * A transport subclass binds its socket in `serverBind`, calls
 * {@link receivePacket} for each datagram, implements {@link sendPacket},
 * and closes its socket in `serverClose`.
 *
 * Settings:
 * - `maxPacketSize` (default 8192, as in Python): longer datagrams are
 *   truncated to it, as `recvfrom(maxPacketSize)` does.
 * - `requestQueueSize` (default 1024 here): datagrams that may wait while the
 *   handler is busy (Python leaves them in the kernel's receive buffer);
 *   further ones are dropped, counted in `refusedRequests`, and reported to
 *   `handleError` once per burst.
 */
export abstract class DatagramServer<A extends Address = Address> extends BaseServer<
  DatagramRequest<A>,
  A
> {
  /** The largest datagram handed to a handler, in bytes; longer ones are truncated (default 8192). */
  maxPacketSize = 8192;
  /**
   * A bound datagram socket's file descriptor to serve instead of binding
   * `serverAddress` (default null), for example one inherited through
   * systemd socket activation (see `listenFds`). For transports to honour.
   */
  listenFd: number | null = null;
  override requestQueueSize = 1024;

  /** The sender handlers reply through: `request.socket`. */
  readonly sender: DatagramSender<A> = {
    sendTo: (data, address) => {
      this[kCounters].bytesOut += data.byteLength;
      return this.sendPacket(data, address);
    },
  };

  /** Sends one datagram from the server's socket. For transports. */
  protected abstract sendPacket(data: Uint8Array, address: A): Promise<void>;

  /** Queues a received datagram as a request. For transports. */
  protected receivePacket(packet: Buffer, clientAddress: A): void {
    const counters = this[kCounters];
    counters.accepted++;
    counters.bytesIn += packet.length;
    const data =
      packet.length > this.maxPacketSize ? packet.subarray(0, this.maxPacketSize) : packet;
    this.enqueueRequest({ packet: data, socket: this.sender }, clientAddress);
  }
}
