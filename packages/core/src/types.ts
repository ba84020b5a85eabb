/**
 * Shapes shared by servers, handlers and transports.
 *
 * @module
 */
import type { Socket } from 'node:net';

/** An IP address and port, as bound or as a peer's. */
export interface InetAddress {
  /** The numeric address, for example `127.0.0.1` or `::1`. */
  host: string;
  /** The port. */
  port: number;
  /** `IPv4` or `IPv6`. */
  family: 'IPv4' | 'IPv6';
}

/**
 * A server's or a client's address: an {@link InetAddress} for IP transports,
 * a path (or a `\0`-prefixed abstract name) for Unix ones. An unnamed Unix
 * peer is the empty string, as in Python.
 */
export type Address = InetAddress | string;

/** What a datagram server hands its handler as `request`. */
export interface DatagramRequest<A extends Address = Address> {
  /** The datagram's bytes (at most the server's `maxPacketSize`). */
  packet: Buffer;
  /** Sends a reply from the server's own socket. */
  socket: DatagramSender<A>;
}

/** Sends datagrams from a server's socket. */
export interface DatagramSender<A extends Address = Address> {
  /** Sends `data` to `address`; resolves when the datagram has been handed to the kernel. */
  sendTo(data: Uint8Array, address: A): Promise<void>;
}

/** The request a stream server hands its handler: the connected socket. */
export type StreamRequest = Socket;

/** A value or a promise of it: every hook may be synchronous or async. */
export type Awaitable<T> = T | Promise<T>;

/** What a {@link RequestPreparer} may replace for the handler: the request, the client's address. */
export interface PreparedRequest<Req = unknown, A extends Address = Address> {
  /** The request the handler gets instead (for example a TLS socket over the accepted one). */
  request?: Req;
  /** The client address the handler gets instead (for example the one a PROXY header carries). */
  clientAddress?: A;
}

/**
 * Work done on a request where its handler runs, before the handler is
 * constructed (see `BaseServer.requestPreparers`). It receives the request,
 * the client address and the server (in a worker thread or child process,
 * the server's snapshot: its data fields), and may return replacements.
 * For servers that run handlers in workers or children it must be exported,
 * under its own name, by a module without side effects at import, and say
 * where that is: `prepareMine.moduleUrl = import.meta.url`.
 */
export interface RequestPreparer<Req = any, A extends Address = any> {
  (
    request: Req,
    clientAddress: A,
    server: object,
    // biome-ignore lint/suspicious/noConfusingVoidType: a preparer that replaces nothing returns nothing.
  ): Awaitable<PreparedRequest<Req, A> | void>;
  /** The URL of the module that exports this function under its name. */
  moduleUrl?: string;
}
