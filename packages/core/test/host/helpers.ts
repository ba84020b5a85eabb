/**
 * Small real transports for the host layer's tests (core cannot depend on
 * the transport packages, which depend on it), and test helpers.
 */
import { createSocket, type Socket as DgramSocket } from 'node:dgram';
import { connect, type ListenOptions, type Server, type Socket } from 'node:net';
import type { BaseServer } from '../../src/base-server.js';
import { DatagramServer } from '../../src/datagram-server.js';
import { type HostDriver, type HostedServer, HostMixIn, hostPoolOf } from '../../src/host/index.js';
import { StreamServer } from '../../src/stream-server.js';
import type { InetAddress } from '../../src/types.js';

export const HOST = '127.0.0.1';

/** TCP on 127.0.0.1. */
export class LoopbackTCPServer extends StreamServer<InetAddress> {
  protected override listenOptions(): ListenOptions {
    return { host: HOST, port: this.serverAddress.port };
  }
  protected override boundAddress(server: Server): InetAddress {
    const { port } = server.address() as { port: number };
    return { host: HOST, port, family: 'IPv4' };
  }
  protected override clientAddressOf(socket: Socket): InetAddress {
    return { host: socket.remoteAddress ?? '', port: socket.remotePort ?? 0, family: 'IPv4' };
  }
}

/** A Unix stream socket on a path. */
export class PathStreamServer extends StreamServer<string> {
  protected override listenOptions(): ListenOptions {
    return { path: this.serverAddress };
  }
  protected override boundAddress(): string {
    return this.serverAddress;
  }
  protected override clientAddressOf(): string {
    return '';
  }
}

/** UDP on 127.0.0.1. */
export class LoopbackUDPServer extends DatagramServer<InetAddress> {
  #socket: DgramSocket | null = null;
  override async serverBind(): Promise<void> {
    await super.serverBind();
    const socket = createSocket('udp4');
    socket.on('message', (packet, peer) =>
      this.receivePacket(packet, { host: peer.address, port: peer.port, family: 'IPv4' }),
    );
    await new Promise<void>((resolve) => socket.bind(this.serverAddress.port, HOST, resolve));
    this.#socket = socket;
    this.serverAddress = { host: HOST, port: socket.address().port, family: 'IPv4' };
  }
  protected override sendPacket(data: Uint8Array, address: InetAddress): Promise<void> {
    return new Promise((resolve, reject) =>
      this.#socket!.send(data, address.port, address.host, (error) =>
        error ? reject(error) : resolve(),
      ),
    );
  }
  override async serverClose(): Promise<void> {
    await super.serverClose();
    this.#socket?.close();
    this.#socket = null;
  }
}

/** What {@link hosted} adds for the tests. */
export interface TestHosted extends HostedServer {
  maxHosts: number;
  errors: unknown[];
  errorAddresses: unknown[];
  hostIdsForTest(): Set<number>;
}

/** A server class of `Base` whose handlers run in hosts of `driver` (at most `maxHosts`, default 2). */
export function hosted<TBase extends abstract new (...args: any[]) => BaseServer<any, any>>(
  Base: TBase,
  driver: HostDriver,
): TBase & (abstract new (...args: any[]) => TestHosted) {
  abstract class Hosted extends HostMixIn(Base, { driver, maxHostsField: 'maxHosts' }) {
    maxHosts = 2;
    errors: unknown[] = [];
    errorAddresses: unknown[] = [];
    override handleError(_request: unknown, clientAddress: unknown, error: unknown): void {
      this.errors.push(error);
      this.errorAddresses.push(clientAddress);
    }
    /** Thread ids or pids of the live hosts. */
    hostIdsForTest(): Set<number> {
      return hostPoolOf(this)?.hostIds ?? new Set();
    }
  }
  return Hosted;
}

/** Starts `serveForever`; the returned function stops it and closes the server. */
export function serve(server: {
  serveForever(options?: { pollInterval?: number }): Promise<void>;
  shutdown(): Promise<void>;
  serverClose(): Promise<void>;
}): () => Promise<void> {
  const loop = server.serveForever({ pollInterval: 20 });
  return async () => {
    await server.shutdown();
    await loop;
    await server.serverClose();
  };
}

/** Waits for a condition, a turn of the event loop at a time, for at most `ms`. */
export async function until(condition: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** A line-oriented client: send lines, read replies one line at a time. */
export class LineClient {
  readonly socket: Socket;
  #buffer = '';
  #waiters: Array<() => void> = [];
  #ended = false;
  /** Resolves when the connection closed. */
  readonly closed: Promise<void>;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.#buffer += chunk;
      this.#wake();
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.#ended = true;
        this.#wake();
        resolve();
      }),
    );
  }

  /** Connects to a TCP address or a Unix socket path. */
  static async open(address: InetAddress | string): Promise<LineClient> {
    const socket =
      typeof address === 'string'
        ? connect({ path: address })
        : connect(address.port, address.host);
    await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new LineClient(socket);
  }

  send(text: string): void {
    this.socket.write(text);
  }

  /** The next line (without its newline), or null at end of stream. */
  async line(): Promise<string | null> {
    for (;;) {
      const at = this.#buffer.indexOf('\n');
      if (at >= 0) {
        const line = this.#buffer.slice(0, at);
        this.#buffer = this.#buffer.slice(at + 1);
        return line;
      }
      if (this.#ended) return null;
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  /** One round trip: sends `text` and returns the reply line. */
  async ask(text: string): Promise<string | null> {
    this.send(text);
    return this.line();
  }

  close(): void {
    this.socket.end();
  }

  #wake(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }
}

/** Sends one datagram and resolves with the first reply. */
export function datagram(address: InetAddress, data: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.on('error', reject);
    socket.once('message', (reply) => {
      socket.close();
      resolve(reply.toString());
    });
    socket.send(data, address.port, address.host);
  });
}

/** Whether a process is alive. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
