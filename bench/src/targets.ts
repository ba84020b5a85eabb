/**
 * The servers the benchmark knows: which program runs them and with what
 * arguments. Kinds are `<transport>-<mode>`.
 *
 * @module
 */

/** How requests travel. `unix` is a Unix stream socket on a path, `unixdgram` a Unix datagram socket. */
export type Transport = 'tcp' | 'udp' | 'unix' | 'unixdgram';
/** What an echo server serves: a transport, or `tls` (TCP with TLS: `TLSServer`, node:tls). */
export type ServerTransport = Transport | 'tls';
/** `raw`: node:net/node:dgram echo; the others are @socketserver servers. */
export type NodeMode = 'raw' | 'plain' | 'evloop' | 'threading' | 'forking';

/** A Node echo server kind, as `echo-server.js` takes it. */
export type NodeKind = `${ServerTransport}-${NodeMode}`;

/** Python `socketserver` classes `python/echo_server.py` runs. */
export const PYTHON_CLASSES = [
  'TCPServer',
  'ThreadingTCPServer',
  'ForkingTCPServer',
  'UDPServer',
  'ThreadingUDPServer',
  'ForkingUDPServer',
  'UnixStreamServer',
  'ThreadingUnixStreamServer',
  'UnixDatagramServer',
  'ThreadingUnixDatagramServer',
] as const;

/** One of {@link PYTHON_CLASSES}. */
export type PythonClass = (typeof PYTHON_CLASSES)[number];

/** What `echo-server.js` / `echo_server.py` print once listening (one line, after `READY `). */
export interface ReadyLine {
  pid: number;
  host?: string;
  port?: number;
  path?: string;
}
