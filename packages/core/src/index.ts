/**
 * @socketserver/core: Python's `socketserver` framework for Node.js.
 *
 * Servers (`BaseServer`, `StreamServer`, `DatagramServer`), request handlers
 * (`BaseRequestHandler`, `StreamRequestHandler`, `DatagramRequestHandler`),
 * the `EventLoopMixIn`, and the error classes. Concrete transports live in
 * `@socketserver/transport-inet` and `@socketserver/transport-unix`.
 *
 * Deployment support shared by the transports: the PROXY protocol
 * (`parseProxyHeader`, `proxyHeaderOf`), the TLS handshake step
 * (`TLSLayer`) and systemd socket activation (`listenFds`). Observability:
 * `server.stats()` and the `node:diagnostics_channel` channels named in
 * `CHANNELS`.
 *
 * @module
 */
export type { RequestHandlerClass } from './base-request-handler.js';
export { BaseRequestHandler, closeIdleHandlers } from './base-request-handler.js';
export type { ServeForeverOptions, ServerSettings } from './base-server.js';
export { BaseServer, formatAddress } from './base-server.js';
export type {
  ConnectionSetup,
  PreparationListener,
  PreparedConnection,
  ProxyProtocolSettings,
} from './connection-setup.js';
export {
  ProxyPolicy,
  prepareConnection,
  proxyHeaderOf,
  startPreparation,
} from './connection-setup.js';
export { DatagramRequestHandler } from './datagram-request-handler.js';
export { DatagramServer } from './datagram-server.js';
export type { SocketServerErrorCode } from './errors.js';
export {
  ClosedError,
  IncompleteReadError,
  InvalidArgumentError,
  QueueFullError,
  SocketServerError,
  TimeoutError,
  UnsupportedError,
} from './errors.js';
export type { EventLoopServer, ServerClass } from './event-loop-mixin.js';
export { EventLoopMixIn } from './event-loop-mixin.js';
export type { HandlerLocation, ImportableHandlerClass } from './handler-module.js';
export {
  assertNotEntryModule,
  assertNotHandlerHost,
  loadHandler,
  locateExport,
  locateHandler,
  markHandlerHost,
} from './handler-module.js';
export { handleFd } from './node-internals.js';
export type {
  ConnectionCloseMessage,
  ConnectionMessage,
  RequestMessage,
  RequestOutcome,
  ServerMode,
  ServerStats,
} from './observe.js';
export { CHANNELS } from './observe.js';
export type { HeaderRead } from './proxy-header-reader.js';
export {
  DEFAULT_PROXY_HEADER_TIMEOUT,
  HeaderDeadlines,
  readHeader,
  readProxyHeader,
} from './proxy-header-reader.js';
export type { ProxyHeader, ProxyParse, ProxyProtocolFailure } from './proxy-protocol.js';
export { ProxyProtocolError, parseProxyHeader, V1_MAX_LENGTH } from './proxy-protocol.js';
export type { ProxySSLInfo, ProxyTLV, ProxyTLVs } from './proxy-tlv.js';
export { crc32c } from './proxy-tlv.js';
export type { ReaderFlow } from './reader.js';
export { attachReader, Reader } from './reader.js';
export type { InheritedSocket } from './socket-activation.js';
export {
  assertSocketKind,
  listenFds,
  SD_LISTEN_FDS_START,
  SocketActivationError,
  takeListenFd,
} from './socket-activation.js';
export type { SocketFacts, SocketKind } from './socket-inspect.js';
export { inspectSocket } from './socket-inspect.js';
export { StreamRequestHandler } from './stream-request-handler.js';
export { StreamServer } from './stream-server.js';
export type { TLSIdentity, TLSSettings } from './tls-layer.js';
export { DEFAULT_HANDSHAKE_TIMEOUT, TLSHandshakeError, TLSLayer } from './tls-layer.js';
export { LOOPBACK_SOURCES, TrustedSources } from './trusted-sources.js';
export type {
  Address,
  Awaitable,
  DatagramRequest,
  DatagramSender,
  InetAddress,
  PreparedRequest,
  RequestPreparer,
  StreamRequest,
} from './types.js';
export type { Writer } from './writer.js';
export { BufferWriter, SocketWriter } from './writer.js';
