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
