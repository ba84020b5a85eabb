import { createSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import type { BaseServer, InetAddress } from '@socketserver/core';

/** Starts `serveForever` in the background; `stop()` shuts it down and closes the server. */
export function serve<T extends BaseServer<any, any>>(server: T, pollInterval = 10) {
  const loop = server.serveForever({ pollInterval });
  return {
    server,
    loop,
    async stop() {
      await server.shutdown();
      await loop;
      await server.serverClose();
    },
  };
}

/** Connects to a TCP server. */
export function tcpConnect(address: InetAddress): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: address.host, port: address.port }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Collects everything a socket receives until it closes. */
export function readAll(socket: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.once('close', () => resolve(Buffer.concat(chunks)));
  });
}

/** Sends `data`, half-closes, and returns the whole reply (CPython's stream_examine). */
export async function tcpExchange(address: InetAddress, data: string | Buffer): Promise<string> {
  const socket = await tcpConnect(address);
  const reply = readAll(socket);
  socket.end(data);
  return (await reply).toString();
}

/** Reads until `n` bytes or close. */
export function readBytes(socket: Socket, n: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      total += chunk.length;
      if (total >= n) done();
    };
    const done = () => {
      socket.off('data', onData);
      resolve(Buffer.concat(chunks));
    };
    socket.on('data', onData);
    socket.once('close', done);
    socket.once('error', reject);
  });
}

/** Sends one datagram and waits for one reply (CPython's dgram_examine). */
export function udpExchange(address: InetAddress, data: string | Buffer): Promise<string> {
  const client = createSocket(address.family === 'IPv6' ? 'udp6' : 'udp4');
  return new Promise((resolve, reject) => {
    client.once('error', reject);
    client.once('message', (message) => {
      client.close();
      resolve(message.toString());
    });
    client.send(data, address.port, address.host);
  });
}

/** A promise with its resolve function. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
