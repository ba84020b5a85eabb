/**
 * @socketserver/transport-unix: `UnixStreamServer` and `UnixDatagramServer`
 * for `@socketserver/core`, over Unix domain sockets (filesystem paths, and
 * Linux abstract names for streams). The datagram server uses the native
 * addon `unix-dgram`, loaded when this module is imported.
 *
 * @module
 */
export { isAbstract, SUN_PATH_SIZE, validateUnixAddress } from './unix-address.js';
export { UnixDatagramServer, UnnamedPeerError } from './unix-datagram-server.js';
export { NativeAddonMissingError, unixDgramAvailable } from './unix-dgram-addon.js';
export { UnixStreamServer } from './unix-stream-server.js';
