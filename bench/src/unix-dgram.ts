/**
 * Unix datagram sockets for the benchmark: Node has none, so this uses
 * `UnixDatagramSocket` from @socketserver/transport-unix (its prebuilt
 * Node-API addon), the same socket `UnixDatagramServer` stands on.
 *
 * @module
 */
import { UnixDatagramSocket } from '@socketserver/transport-unix';

/** Creates a Unix datagram socket, or throws why the addon cannot be loaded. */
export function createUnixDgramSocket(): UnixDatagramSocket {
  return new UnixDatagramSocket();
}

/** Why the addon cannot be loaded, or null when it can. */
export function unixDgramUnavailable(): string | null {
  try {
    createUnixDgramSocket().close();
    return null;
  } catch (error) {
    return `the Unix datagram addon failed to load: ${(error as Error).message.split('\n')[0]}`;
  }
}
