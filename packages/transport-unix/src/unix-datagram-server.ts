import { fchmod } from 'node:fs';
import { chmod } from 'node:fs/promises';
import { promisify } from 'node:util';
import {
  ClosedError,
  type DatagramRequest,
  DatagramServer,
  InvalidArgumentError,
  type RequestHandlerClass,
  SocketServerError,
  UnsupportedError,
} from '@socketserver/core';
import {
  removeOwnSocketFile,
  removeStaleSocket,
  type SocketFileIdentity,
  socketIdentity,
} from './socket-file.js';
import { isAbstract, SUN_PATH_SIZE, validateMode, validateUnixAddress } from './unix-address.js';
import {
  assertUnixDgramAvailable,
  createUnixDgramSocket,
  systemError,
  type UnixDgramSocket,
} from './unix-dgram-addon.js';

/**
 * A datagram came from a sender with no bound path (an unnamed or abstract
 * socket), so the reply written to it cannot be delivered. Code
 * `ERR_SOCKETSERVER_UNNAMED_PEER`. Given to `handleError` once per server;
 * every such reply is counted in `droppedReplies`.
 */
export class UnnamedPeerError extends SocketServerError {
  constructor() {
    super(
      'ERR_SOCKETSERVER_UNNAMED_PEER',
      'a reply to a datagram sender with no bound path was dropped: the sender cannot be ' +
        'addressed (bind the client socket to a path to get replies); further drops are only ' +
        'counted in droppedReplies',
    );
  }
}

/**
 * A Unix datagram server (Python's `socketserver.UnixDatagramServer`): each
 * datagram on an `AF_UNIX`/`SOCK_DGRAM` socket is a request, and replies
 * leave from the server's socket. Node.js has no Unix datagram sockets; this
 * class uses the native addon `unix-dgram` (2.0.7), loaded when the package
 * is imported. If it is missing, the constructor throws
 * `NativeAddonMissingError` (`ERR_SOCKETSERVER_NATIVE_ADDON_MISSING`).
 *
 * ```ts
 * const server = await UnixDatagramServer.create('/run/app.dgram', Handler);
 * ```
 *
 * `serverAddress` is the path (abstract names are not supported by
 * `unix-dgram`: `UnsupportedError`). `clientAddress` is the sender's bound
 * path, or `''` for a sender with no path (unbound or abstract): its handler
 * still runs, but a reply cannot be addressed, so it is dropped, counted in
 * `droppedReplies`, and reported once to `handleError` as `UnnamedPeerError`.
 *
 * Settings beyond the base ones:
 * - `maxPacketSize` (default 8192): longer datagrams are truncated, as
 *   Python's `recvfrom` does. `unix-dgram` reads at most 65536 bytes of a
 *   datagram, so larger values change nothing.
 * - `removeStaleSocket` (default false), `mode` (default `null`): as for
 *   {@link UnixStreamServer}. `mode` is applied with `fchmod` on the socket
 *   before `bind` (Linux creates the file with the socket's mode, less the
 *   umask), then `chmod` to exactly `mode`: the file never has wider
 *   permissions than asked. Platforms that refuse `fchmod` on a socket get
 *   `UnsupportedError`.
 * - `serverClose` removes the socket file this server created, and only it.
 *
 * Sending never blocks: a reply to a peer whose receive queue is full fails
 * with `EAGAIN` (Python's blocking socket would wait), and one to a peer that
 * is gone fails with `ECONNREFUSED` or `ENOENT`; the error goes to
 * `handleError` and serving continues.
 */
export class UnixDatagramServer extends DatagramServer<string> {
  /** The bound `unix-dgram` socket, or `null`. */
  socket: UnixDgramSocket | null = null;
  /** Before binding, remove a socket file at the path that nobody is bound to (default false). */
  removeStaleSocket = false;
  /** Permission bits of the socket file, for example `0o600`; `null` (default) leaves them to the umask. */
  mode: number | null = null;
  /** Replies dropped because the sender had no bound path. */
  droppedReplies = 0;

  #socketFile: SocketFileIdentity | null = null;
  #reportedUnnamedPeer = false;

  /**
   * Stores the address and handler; does no I/O (see `create`). Throws
   * `NativeAddonMissingError` when `unix-dgram` did not load,
   * `InvalidArgumentError` for a path longer than 107 bytes, and
   * `UnsupportedError` for an abstract name.
   * @param serverAddress - a filesystem path.
   * @param RequestHandlerClass - the handler class.
   */
  constructor(
    serverAddress: string,
    RequestHandlerClass: RequestHandlerClass<DatagramRequest<string>, string>,
  ) {
    super(validateDatagramAddress(serverAddress), RequestHandlerClass);
  }

  /**
   * Binds the socket with `mode`, removing a stale socket file first when
   * `removeStaleSocket` is set. Rejects with the system error (`EADDRINUSE`
   * when the path exists); nothing is left open or behind then.
   */
  override async serverBind(): Promise<void> {
    await super.serverBind();
    const path = this.serverAddress;
    const mode = validateMode(this.mode, path);
    if (this.removeStaleSocket) await removeStaleSocket(path);
    const socket = createUnixDgramSocket();
    socket.on('message', (packet, rinfo) => this.receivePacket(packet, rinfo.path ?? ''));
    let bound = false;
    try {
      if (mode !== null) await restrictUnbound(socket, mode);
      bindNow(socket, path);
      bound = true;
      const identity = await socketIdentity(path);
      this.#socketFile = identity;
      if (mode !== null) await chmod(path, mode);
    } catch (error) {
      socket.removeAllListeners('message');
      closeQuietly(socket);
      const file = this.#socketFile;
      this.#socketFile = null;
      if (bound && file !== null) await removeOwnSocketFile(path, file).catch(() => {});
      throw error;
    }
    socket.on('error', (error) => this.reportError(null, null, systemError(error, 'socket')));
    this.socket = socket;
  }

  /**
   * Sends one datagram to `address` from the server's socket. A reply to
   * `''` (a sender without a path) is dropped and counted; see the class.
   */
  protected override sendPacket(data: Uint8Array, address: string): Promise<void> {
    const socket = this.socket;
    if (socket === null) return Promise.reject(new ClosedError('the server socket'));
    if (address === '') {
      this.droppedReplies++;
      if (!this.#reportedUnnamedPeer) {
        this.#reportedUnnamedPeer = true;
        this.reportError(null, address, new UnnamedPeerError());
      }
      return Promise.resolve();
    }
    try {
      validateDatagramAddress(address);
    } catch (error) {
      return Promise.reject(error);
    }
    const buffer = Buffer.isBuffer(data)
      ? data
      : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    return new Promise((resolve, reject) => {
      socket.send(buffer, 0, buffer.length, address, (error) =>
        error ? reject(systemError(error, 'sendto', address)) : resolve(),
      );
    });
  }

  /**
   * Removes the socket file this server created (if the path still names
   * it), closes the socket, then the base's resources. Idempotent. May be
   * extended, do not override.
   */
  override async serverClose(): Promise<void> {
    const socket = this.socket;
    const file = this.#socketFile;
    this.socket = null;
    this.#socketFile = null;
    let failure: unknown = null;
    if (file !== null) {
      try {
        await removeOwnSocketFile(this.serverAddress, file);
      } catch (error) {
        failure = error;
      }
    }
    if (socket !== null) {
      socket.removeAllListeners('message');
      try {
        socket.close();
      } catch (error) {
        failure ??= systemError(error, 'close');
      }
    }
    await super.serverClose();
    if (failure !== null) throw failure;
  }

  /** The socket's file descriptor, or -1. */
  override fileno(): number {
    return this.socket?.fd ?? -1;
  }
}

function validateDatagramAddress(address: string): string {
  validateUnixAddress(address);
  if (isAbstract(address)) {
    throw new UnsupportedError(
      `unix-dgram cannot address abstract Unix names (it copies sun_path as a C string): ${JSON.stringify(address)}`,
    );
  }
  assertUnixDgramAvailable();
  return address;
}

/** Gives the unbound socket's inode `mode`: Linux creates the socket file with it at `bind`. */
async function restrictUnbound(socket: UnixDgramSocket, mode: number): Promise<void> {
  try {
    await promisify(fchmod)(socket.fd, mode);
  } catch (error) {
    throw new UnsupportedError(
      `mode needs fchmod on an unbound socket, which ${process.platform} refused: ${(error as Error).message}`,
    );
  }
}

/** Binds synchronously (the addon reports through events in the same tick). */
function bindNow(socket: UnixDgramSocket, path: string): void {
  if (Buffer.byteLength(path) > SUN_PATH_SIZE - 1) {
    throw new InvalidArgumentError(`Unix socket path longer than ${SUN_PATH_SIZE - 1} bytes`);
  }
  let failure: unknown = null;
  const capture = (error: unknown) => {
    failure = error;
  };
  socket.once('error', capture);
  try {
    socket.bind(path);
  } finally {
    socket.removeAllListeners('error');
  }
  if (failure !== null) throw systemError(failure, 'bind', path);
}

function closeQuietly(socket: UnixDgramSocket): void {
  try {
    socket.close();
  } catch {
    // Closing a socket that failed to bind: nothing more to release.
  }
}
