import { createSocket, type RemoteInfo, type Socket, type SocketType } from 'node:dgram';
import {
  assertSocketKind,
  type DatagramRequest,
  DatagramServer,
  handleFd,
  type InetAddress,
  inspectSocket,
  type RequestHandlerClass,
} from '@socketserver/core';
import {
  assertReusePortSupported,
  bindHost,
  type InetAddressInput,
  normalizeInetAddress,
} from './address.js';

/**
 * A UDP server (Python's `socketserver.UDPServer`): each datagram is a
 * request, replies leave from the server's socket.
 *
 * Settings beyond the base ones: `maxPacketSize` (default 8192: longer
 * datagrams are truncated, as Python's `recvfrom` does), `ipv6Only`,
 * `allowReuseAddress` (`SO_REUSEADDR`, honoured), `allowReusePort` (needs
 * Node.js >= 22.12), `listenFd` (serve an inherited bound UDP socket, see
 * `takeListenFd`; `serverAddress` becomes its address).
 */
export class UDPServer extends DatagramServer<InetAddress> {
  /** The bound datagram socket. */
  socket: Socket | null = null;
  /** `SO_REUSEADDR` on the socket (default false). */
  allowReuseAddress = false;
  /** `SO_REUSEPORT` (default false; needs Node.js >= 22.12). */
  allowReusePort = false;
  /** With an IPv6 host, accept IPv6 peers only (default false: dual stack on `::`). */
  ipv6Only = false;

  /**
   * Stores the address and handler; does no I/O (see `create`).
   * @param serverAddress - `{ host, port }` or `[host, port]`.
   * @param RequestHandlerClass - the handler class.
   */
  constructor(
    serverAddress: InetAddressInput,
    RequestHandlerClass: RequestHandlerClass<DatagramRequest<InetAddress>, InetAddress>,
  ) {
    super(normalizeInetAddress(serverAddress), RequestHandlerClass);
  }

  /**
   * Binds the socket (or adopts `listenFd`) and records the real address.
   * Rejects with the system error, leaving nothing open.
   */
  override async serverBind(): Promise<void> {
    await super.serverBind();
    if (this.allowReusePort) await assertReusePortSupported('dgram');
    const fd = this.listenFd;
    if (fd !== null) assertSocketKind(fd, 'udp', this.constructor.name);
    const socket = createSocket({
      type: this.#socketType(fd),
      reuseAddr: this.allowReuseAddress,
      ipv6Only: this.ipv6Only,
      ...(this.allowReusePort ? { reusePort: true } : {}),
    });
    const where =
      fd !== null
        ? { fd }
        : { address: bindHost(this.serverAddress), port: this.serverAddress.port };
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind(where, () => {
          socket.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      socket.close();
      throw error;
    }
    socket.on('message', (packet: Buffer, peer: RemoteInfo) =>
      this.receivePacket(packet, { host: peer.address, port: peer.port, family: peer.family }),
    );
    socket.on('error', (error) => this.reportError(null, null, error));
    this.socket = socket;
    const bound = socket.address();
    this.serverAddress = {
      host: bound.address,
      port: bound.port,
      family: bound.family as InetAddress['family'],
    };
  }

  /** `udp6` for an IPv6 address or inherited IPv6 socket, else `udp4`. */
  #socketType(fd: number | null): SocketType {
    const ipv6 = fd !== null ? inspectSocket(fd).ipv6 : this.serverAddress.family === 'IPv6';
    return ipv6 ? 'udp6' : 'udp4';
  }

  protected override sendPacket(data: Uint8Array, address: InetAddress): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = this.socket;
      if (socket === null) throw new Error('the server socket is closed');
      socket.send(data, address.port, address.host, (error) => (error ? reject(error) : resolve()));
    });
  }

  /** Closes the socket, then the base's resources. Idempotent. */
  override async serverClose(): Promise<void> {
    const socket = this.socket;
    this.socket = null;
    if (socket !== null) await new Promise<void>((resolve) => socket.close(() => resolve()));
    await super.serverClose();
  }

  /** The socket's file descriptor, or -1. */
  override fileno(): number {
    return handleFd(this.socket);
  }
}
