import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import type { BaseServer, InetAddress } from '@socketserver/core';

/** Connects, writes `data` (and half-closes when `end`), resolves with everything read until close. */
export function exchange(
  address: InetAddress,
  data: string | Buffer,
  { end = false }: { end?: boolean } = {},
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect(address.port, address.host);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks)));
    if (end) socket.end(data);
    else socket.write(data);
  });
}

/** Sends one datagram and resolves with the first reply. */
export function datagram(address: InetAddress, data: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(address.family === 'IPv6' ? 'udp6' : 'udp4');
    socket.on('error', reject);
    socket.once('message', (reply) => {
      socket.close();
      resolve(reply);
    });
    socket.send(data, address.port, address.host);
  });
}

/** Starts `serveForever` and returns a function that stops it and closes the server. */
export function serve(server: BaseServer<any, any>): () => Promise<void> {
  const loop = server.serveForever({ pollInterval: 20 });
  return async () => {
    await server.shutdown();
    await loop;
    await server.serverClose();
  };
}

/** A promise with its resolve function outside. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
