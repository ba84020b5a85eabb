/**
 * @socketserver/transport-inet: `TCPServer`, `TLSServer` and `UDPServer`
 * for `@socketserver/core`, over IPv4, IPv6 and dual stack.
 *
 * @module
 */
export type { InetAddressInput } from './address.js';
export { normalizeInetAddress } from './address.js';
export { TCPServer } from './tcp-server.js';
export type { TLSRequest } from './tls-server.js';
export { TLSServer } from './tls-server.js';
export { UDPServer } from './udp-server.js';
