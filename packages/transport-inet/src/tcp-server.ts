import type { ListenOptions, Server, Socket } from 'node:net';
import {
  assertSocketKind,
  type InetAddress,
  type RequestHandlerClass,
  StreamServer,
} from '@socketserver/core';
import {
  assertReusePortSupported,
  bindHost,
  type InetAddressInput,
  normalizeInetAddress,
} from './address.js';

/**
 * A TCP server (Python's `socketserver.TCPServer`): IPv4, IPv6 or dual stack,
 * one connection handled at a time. Combine with a mix-in for concurrency:
 * `class EventLoopTCPServer extends EventLoopMixIn(TCPServer) {}`.
 *
 * ```ts
 * const server = await TCPServer.create({ host: '127.0.0.1', port: 0 }, Handler);
 * ```
 *
 * Settings beyond the base ones: `ipv6Only` (with host `::`, refuse IPv4
 * peers; default false: dual stack), `allowReuseAddress` (Node always sets
 * `SO_REUSEADDR` on TCP listeners, so `false` cannot be honoured),
 * `allowReusePort` (needs Node.js >= 22.12; earlier versions throw
 * `UnsupportedError`), `listenFd` (serve an inherited listening socket, see
 * `takeListenFd`; `serverAddress` becomes its address).
 */
export class TCPServer extends StreamServer<InetAddress> {
  /** With an IPv6 host, accept IPv6 peers only (default false: dual stack on `::`). */
  ipv6Only = false;

  /**
   * Stores the address and handler; does no I/O (see `create`).
   * @param serverAddress - `{ host, port }` or `[host, port]`.
   * @param RequestHandlerClass - the handler class.
   */
  constructor(
    serverAddress: InetAddressInput,
    RequestHandlerClass: RequestHandlerClass<Socket, InetAddress>,
  ) {
    super(normalizeInetAddress(serverAddress), RequestHandlerClass);
  }

  /**
   * Binds and listens; with `allowReusePort`, first checks that this Node.js
   * can honour it; with `listenFd`, checks the inherited socket is TCP and
   * serves it.
   */
  override async serverBind(): Promise<void> {
    if (this.allowReusePort) await assertReusePortSupported('net');
    if (this.listenFd !== null) assertSocketKind(this.listenFd, 'tcp', this.constructor.name);
    await super.serverBind();
  }

  protected override listenOptions(): ListenOptions {
    const options: ListenOptions & { reusePort?: boolean } = {
      host: bindHost(this.serverAddress),
      port: this.serverAddress.port,
      ipv6Only: this.ipv6Only,
    };
    if (this.allowReusePort) options.reusePort = true;
    return options;
  }

  protected override boundAddress(server: Server): InetAddress {
    const bound = server.address();
    if (bound === null || typeof bound === 'string') return this.serverAddress;
    return { host: bound.address, port: bound.port, family: bound.family as InetAddress['family'] };
  }

  protected override clientAddressOf(socket: Socket): InetAddress {
    return {
      host: socket.remoteAddress ?? '',
      port: socket.remotePort ?? 0,
      family: socket.remoteFamily === 'IPv6' ? 'IPv6' : 'IPv4',
    };
  }
}
