/**
 * A minimal TCP stream server on 127.0.0.1 for core's own tests (the real
 * `TCPServer` lives in transport-inet, which depends on core), and clients.
 */
import { connect, type ListenOptions, type Server, type Socket } from 'node:net';
import { StreamServer } from '../src/stream-server.js';
import type { InetAddress } from '../src/types.js';

/** `StreamServer` over loopback TCP, port 0; records what `handleError` gets. */
export class LoopbackServer extends StreamServer<InetAddress> {
  readonly errors: Array<{ address: unknown; error: unknown }> = [];
  #onError: Array<() => void> = [];

  /** `create(null, Handler)`: the address is always 127.0.0.1, port 0. */
  constructor(_address: unknown, Handler: any) {
    super({ host: '127.0.0.1', port: 0, family: 'IPv4' }, Handler);
  }

  protected override listenOptions(): ListenOptions {
    return { host: '127.0.0.1', port: 0 };
  }

  protected override boundAddress(server: Server): InetAddress {
    const bound = server.address() as { address: string; port: number };
    return { host: bound.address, port: bound.port, family: 'IPv4' };
  }

  protected override clientAddressOf(socket: Socket): InetAddress {
    return { host: socket.remoteAddress!, port: socket.remotePort!, family: 'IPv4' };
  }

  override handleError(_request: unknown, address: unknown, error: unknown): void {
    this.errors.push({ address, error });
    for (const wake of this.#onError.splice(0)) wake();
  }

  /** Resolves when `handleError` has been called `n` times in all. */
  async errorCount(n: number): Promise<void> {
    while (this.errors.length < n)
      await new Promise<void>((resolve) => this.#onError.push(resolve));
  }
}

/** Connects to the server (optionally from a given local loopback address). */
export function dial(address: InetAddress, localAddress?: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: address.host,
      port: address.port,
      localAddress,
      allowHalfOpen: true,
    });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Everything the socket receives until the server ends or closes the connection. */
export function received(socket: Socket): Promise<string> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => {}); // a reset ends it too
  return new Promise((resolve) => {
    const done = () => {
      socket.destroy();
      resolve(Buffer.concat(chunks).toString());
    };
    socket.once('end', done);
    socket.once('close', done);
  });
}
