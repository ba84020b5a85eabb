import { fchmod } from 'node:fs';
import { chmod } from 'node:fs/promises';
import { promisify } from 'node:util';
import {
  assertSocketKind,
  ClosedError,
  type DatagramRequest,
  DatagramServer,
  inspectSocket,
  type RequestHandlerClass,
  SocketServerError,
  UnsupportedError,
} from '@socketserver/core';
import { assertUnixDgramAvailable } from './native-addon.js';
import {
  removeOwnSocketFile,
  removeStaleSocket,
  type SocketFileIdentity,
  socketIdentity,
} from './socket-file.js';
import { isAbstract, validateMode, validateUnixAddress } from './unix-address.js';
import { UnixDatagramSocket } from './unix-datagram-socket.js';

/**
 * A datagram came from a sender with no bound path (an unnamed socket), so the reply written to it cannot be delivered. Code
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
 * class uses {@link UnixDatagramSocket}, over this package's Node-API addon,
 * loaded when the package is imported. If it is missing, the constructor
 * throws `NativeAddonMissingError` (`ERR_SOCKETSERVER_NATIVE_ADDON_MISSING`).
 *
 * ```ts
 * const server = await UnixDatagramServer.create('/run/app.dgram', Handler);
 * ```
 *
 * `serverAddress` is the path, or `'\0name'` for a Linux abstract name.
 * `clientAddress` is the sender's bound path (or abstract name), or `''` for
 * a sender with no address (an unbound socket): its handler still runs, but
 * a reply cannot be addressed, so it is dropped, counted in
 * `droppedReplies`, and reported once to `handleError` as `UnnamedPeerError`.
 *
 * Settings beyond the base ones:
 * - `maxPacketSize` (default 8192): longer datagrams are truncated, as
 *   Python's `recvfrom` does; the socket's receive buffer is this size.
 * - `removeStaleSocket` (default false), `mode` (default `null`): as for
 *   {@link UnixStreamServer}. `mode` is applied with `fchmod` on the socket
 *   before `bind` (Linux creates the file with the socket's mode, less the
 *   umask), then `chmod` to exactly `mode`: the file never has wider
 *   permissions than asked. Platforms that refuse `fchmod` on a socket get
 *   `UnsupportedError`.
 * - `serverClose` removes the socket file this server created, and only it.
 * - `listenFd` (default null): serve an inherited bound socket (systemd
 *   socket activation, see `takeListenFd`); `serverAddress` becomes its path,
 *   `mode` and `removeStaleSocket` do not apply, and its file stays (it is
 *   systemd's).
 *
 * Sending never blocks: a reply to a peer whose receive queue is full fails
 * with `EAGAIN` (Python's blocking socket would wait), and one to a peer that
 * is gone fails with `ECONNREFUSED` or `ENOENT`; the error goes to
 * `handleError` and serving continues.
 */
export class UnixDatagramServer extends DatagramServer<string> {
  /** The bound socket, or `null`. */
  socket: UnixDatagramSocket | null = null;
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
   * `NativeAddonMissingError` when the addon did not load, and
   * `InvalidArgumentError` for a path longer than 107 bytes.
   * @param serverAddress - a filesystem path, or `'\0name'` (abstract).
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
    if (this.listenFd !== null) return this.#serveInherited(this.listenFd);
    const path = this.serverAddress;
    const mode = validateMode(this.mode, path);
    if (this.removeStaleSocket && !isAbstract(path)) await removeStaleSocket(path);
    const socket = new UnixDatagramSocket({ maxPacketSize: this.maxPacketSize });
    try {
      await this.#bind(socket, path, mode);
    } catch (error) {
      socket.close();
      throw error;
    }
    this.#listen(socket);
  }

  /**
   * Serves an inherited bound socket (`listenFd`): `serverAddress` becomes
   * its path; its file is not this server's to remove.
   */
  #serveInherited(fd: number): void {
    assertSocketKind(fd, 'unix-dgram', this.constructor.name);
    const socket = new UnixDatagramSocket({ fd, maxPacketSize: this.maxPacketSize });
    const path = inspectSocket(fd).path || socket.address();
    if (path !== '') this.serverAddress = path;
    this.#listen(socket);
  }

  #listen(socket: UnixDatagramSocket): void {
    socket.on('message', (packet, sender) => this.receivePacket(packet, sender));
    socket.on('error', (error) => this.reportError(null, null, error));
    this.socket = socket;
  }

  /** Binds with `mode` and records the socket file it created (an abstract name has none). */
  async #bind(socket: UnixDatagramSocket, path: string, mode: number | null): Promise<void> {
    if (mode !== null) await restrictUnbound(socket, mode);
    socket.bind(path);
    if (isAbstract(path)) return;
    try {
      this.#socketFile = await socketIdentity(path);
      if (mode !== null) await chmod(path, mode);
    } catch (error) {
      const file = this.#socketFile;
      this.#socketFile = null;
      if (file !== null) await removeOwnSocketFile(path, file).catch(() => {});
      throw error;
    }
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
      socket.send(data, address);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
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
        failure ??= error;
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
  assertUnixDgramAvailable();
  return address;
}

/** Gives the unbound socket's inode `mode`: Linux creates the socket file with it at `bind`. */
async function restrictUnbound(socket: UnixDatagramSocket, mode: number): Promise<void> {
  try {
    await promisify(fchmod)(socket.fd, mode);
  } catch (error) {
    throw new UnsupportedError(
      `mode needs fchmod on an unbound socket, which ${process.platform} refused: ${(error as Error).message}`,
    );
  }
}
