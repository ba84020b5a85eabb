/**
 * Reads the PROXY header from the start of a connection, within a deadline,
 * and leaves the bytes after it to be read by whoever comes next (a TLS
 * handshake or the handler).
 *
 * @module
 */
import type { Duplex } from 'node:stream';
import { type ProxyHeader, ProxyProtocolError, parseProxyHeader } from './proxy-protocol.js';

/** Default of `proxyHeaderTimeout`: how long a peer has to send its whole header, in ms. */
export const DEFAULT_PROXY_HEADER_TIMEOUT = 5_000;

const EMPTY: Buffer = Buffer.alloc(0);

/**
 * Reads and parses the PROXY header at the start of `socket`. Resolves with
 * the header, or with `null` when the peer closed before sending a byte (a
 * TCP health check: nothing to report). Rejects with
 * {@link ProxyProtocolError}: `malformed` as soon as the bytes cannot be a
 * header, `truncated` when the peer ended in the middle of one, `timeout`
 * when the whole header took longer than `timeout` ms (a deadline for the
 * header, not an idle limit: a byte now and then does not extend it).
 *
 * On success the socket is paused again, with the bytes that followed the
 * header put back in front of its stream.
 */
export function readProxyHeader(socket: Duplex, timeout: number): Promise<ProxyHeader | null> {
  return new Promise((resolve, reject) => {
    let received: Buffer = EMPTY;
    const finish = (error: unknown, header: ProxyHeader | null, rest: Buffer) => {
      clearTimeout(timer);
      socket.off('readable', onReadable);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      if (error !== null) return reject(error);
      socket.pause();
      if (rest.length > 0) socket.unshift(rest);
      resolve(header);
    };
    const onReadable = () => {
      for (;;) {
        const chunk = socket.read() as Buffer | null;
        if (chunk === null) return;
        received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
        let parsed: ReturnType<typeof parseProxyHeader>;
        try {
          parsed = parseProxyHeader(received);
        } catch (error) {
          return finish(error, null, EMPTY);
        }
        if (parsed !== null) return finish(null, parsed.header, received.subarray(parsed.length));
      }
    };
    const onEnd = () => {
      if (received.length === 0) return finish(null, null, EMPTY);
      finish(
        new ProxyProtocolError(
          'truncated',
          `the peer closed after ${received.length} bytes of a header`,
        ),
        null,
        EMPTY,
      );
    };
    const timer = setTimeout(() => {
      finish(
        new ProxyProtocolError(
          'timeout',
          `no complete header within ${timeout} ms (${received.length} bytes received)`,
        ),
        null,
        EMPTY,
      );
    }, timeout);
    socket.on('readable', onReadable);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
  });
}
