/**
 * @socketserver/transport-unix: `UnixStreamServer` and `UnixDatagramServer`
 * for `@socketserver/core`, over Unix domain sockets (filesystem paths, and
 * Linux abstract names), and `UnixDatagramSocket`, the Unix datagram socket
 * Node.js lacks. The datagram classes use this package's Node-API addon,
 * prebuilt and loaded when this module is imported. Also systemd readiness
 * (`notify`, `notifyReady`, `notifyStopping`, `notifyStatus`), sent with
 * `UnixDatagramSocket`.
 *
 * @module
 */
export { NativeAddonMissingError, unixDgramAvailable } from './native-addon.js';
export type { NotifyState } from './sd-notify.js';
export { notify, notifyReady, notifyStatus, notifyStopping } from './sd-notify.js';
export { isAbstract, SUN_PATH_SIZE, validateUnixAddress } from './unix-address.js';
export { UnixDatagramServer, UnnamedPeerError } from './unix-datagram-server.js';
export type {
  UnixDatagramSocketEvents,
  UnixDatagramSocketOptions,
} from './unix-datagram-socket.js';
export { UnixDatagramSocket } from './unix-datagram-socket.js';
export { UnixStreamServer } from './unix-stream-server.js';
