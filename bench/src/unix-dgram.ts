/**
 * Unix datagram sockets for the benchmark: Node has none, so this loads the
 * `unix-dgram` native addon that @socketserver/transport-unix depends on,
 * from that package's own dependencies.
 *
 * @module
 */
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The parts of a `unix-dgram` socket the benchmark uses. */
export interface UnixDgramSocket {
  bind(path: string): void;
  send(
    buf: Buffer,
    offset: number,
    length: number,
    path: string,
    callback?: (error?: Error) => void,
  ): void;
  close(): void;
  on(event: 'message', listener: (packet: Buffer, rinfo: { path?: string }) => void): this;
  on(event: 'error' | 'listening', listener: (error?: Error) => void): this;
}

const here = dirname(fileURLToPath(import.meta.url));

/** Creates a Unix datagram socket, or throws why the addon cannot be loaded. */
export function createUnixDgramSocket(): UnixDgramSocket {
  const require = createRequire(
    resolve(here, '..', '..', 'packages', 'transport-unix', 'package.json'),
  );
  const addon = require('unix-dgram') as { createSocket(type: 'unix_dgram'): UnixDgramSocket };
  return addon.createSocket('unix_dgram');
}

/** Why the addon cannot be loaded, or null when it can. */
export function unixDgramUnavailable(): string | null {
  try {
    createUnixDgramSocket().close();
    return null;
  } catch (error) {
    return `the unix-dgram addon failed to load: ${(error as Error).message.split('\n')[0]}`;
  }
}
