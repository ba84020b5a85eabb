import { chmod } from 'node:fs/promises';
import type { ListenOptions, Server, Socket } from 'node:net';
import {
  assertNotHandlerHost,
  assertSocketKind,
  InvalidArgumentError,
  inspectSocket,
  type RequestHandlerClass,
  StreamServer,
} from '@socketserver/core';
import {
  linkIntoPlace,
  makePrivateDir,
  privateSocketPath,
  removeOwnSocketFile,
  removePrivateDir,
  removeStaleSocket,
  type SocketFileIdentity,
  socketIdentity,
} from './socket-file.js';
import { isAbstract, SUN_PATH_SIZE, validateMode, validateUnixAddress } from './unix-address.js';

/**
 * A Unix stream server (Python's `socketserver.UnixStreamServer`): one
 * connection per request over `AF_UNIX`/`SOCK_STREAM`, handled one at a time
 * unless a mix-in says otherwise
 * (`class EventLoopUnixStreamServer extends EventLoopMixIn(UnixStreamServer) {}`).
 *
 * ```ts
 * const server = await UnixStreamServer.create('/run/app.sock', Handler, { mode: 0o600 });
 * ```
 *
 * `serverAddress` is the path, or on Linux an abstract name (`'\0name'`, no
 * file). `clientAddress` is always `''`: Node.js does not report the path a
 * stream client bound (Python usually reports `''` too).
 *
 * The socket file:
 * - Binding where a file already exists fails with `EADDRINUSE`, as in Python.
 * - `removeStaleSocket` (default false): first remove a socket file nobody
 *   is listening on; never a file that is not a socket, never a live one.
 * - `mode` (default `null`: the umask decides): the file's permission bits.
 * - `serverClose` removes the socket file this server created, and only it:
 *   if the path now names another file, that file stays.
 *
 * How: the socket is bound inside a fresh private directory beside the path
 * (`mkdtemp`, mode 0700, so nobody else can reach the socket there), given
 * its `mode`, then hard-linked to the path (`link` fails with `EEXIST`, so
 * an existing file is never replaced), and the directory is removed. So
 * there is no moment in which the socket is reachable with wider permissions
 * than asked. When the directory part of the path is too long for that
 * detour (within 10 bytes of the 107-byte limit), the socket is bound in
 * place; `mode` then throws, and Node removes the path by name at close.
 *
 * With `listenFd` (an inherited listening socket, see `takeListenFd`), the
 * server serves that socket: `serverAddress` becomes the path it is bound
 * to (read from `/proc` on Linux), `mode` and `removeStaleSocket` do not
 * apply, and `serverClose` leaves the socket file to its owner (systemd
 * made it and keeps it for the next start).
 */
export class UnixStreamServer extends StreamServer<string> {
  /** Before binding, remove a socket file at the path that refuses connections (default false). */
  removeStaleSocket = false;
  /** Permission bits of the socket file, for example `0o600`; `null` (default) leaves them to the umask. */
  mode: number | null = null;

  #listenPath: string;
  #socketFile: SocketFileIdentity | null = null;

  /**
   * Stores the address and handler; does no I/O (see `create`). Throws
   * `InvalidArgumentError` for a path longer than 107 bytes (the kernel's
   * 108-byte `sun_path` with its NUL) or an invalid address.
   * @param serverAddress - a filesystem path, or `'\0name'` for a Linux abstract name.
   * @param RequestHandlerClass - the handler class.
   */
  constructor(serverAddress: string, RequestHandlerClass: RequestHandlerClass<Socket, string>) {
    super(validateUnixAddress(serverAddress), RequestHandlerClass);
    this.#listenPath = this.serverAddress;
  }

  /**
   * Binds and listens, puts the socket file in place with `mode`, and
   * removes a stale socket file first when `removeStaleSocket` is set.
   * Rejects with `EADDRINUSE` when the path exists; nothing is left behind.
   */
  override async serverBind(): Promise<void> {
    assertNotHandlerHost(); // before touching any file (super checks it again)
    if (this.listenFd !== null) return this.#serveInherited(this.listenFd);
    const path = this.serverAddress;
    const mode = validateMode(this.mode, path);
    if (isAbstract(path)) return super.serverBind();
    if (this.removeStaleSocket) await removeStaleSocket(path);
    const dir = await makePrivateDir(path, SUN_PATH_SIZE - 1);
    if (dir === null) {
      if (mode !== null) {
        throw new InvalidArgumentError(
          `mode needs a private directory beside the socket; ${path} leaves no room for it within the 107-byte limit`,
        );
      }
      await super.serverBind();
      this.#socketFile = await socketIdentity(path);
      return;
    }
    try {
      this.#listenPath = privateSocketPath(dir);
      await super.serverBind();
      if (mode !== null) await chmod(this.#listenPath, mode);
      // The inode is known for sure while only we can reach it; the link shares it.
      const identity = await socketIdentity(this.#listenPath);
      await linkIntoPlace(this.#listenPath, path);
      this.#socketFile = identity;
    } finally {
      this.#listenPath = path;
      await removePrivateDir(dir);
    }
  }

  /** Serves an inherited listening socket; its file is not this server's to remove. */
  async #serveInherited(fd: number): Promise<void> {
    assertSocketKind(fd, 'unix', this.constructor.name);
    const { path } = inspectSocket(fd);
    if (path !== '') this.serverAddress = path;
    await super.serverBind();
  }

  protected override listenOptions(): ListenOptions {
    return { path: this.#listenPath };
  }

  protected override boundAddress(_server: Server): string {
    return this.serverAddress;
  }

  protected override clientAddressOf(_socket: Socket): string {
    return '';
  }

  /**
   * Removes the socket file this server created (if the path still names
   * it), then closes the listening socket and waiting connections.
   * Idempotent. May be extended, do not override.
   */
  override async serverClose(): Promise<void> {
    const file = this.#socketFile;
    this.#socketFile = null;
    let failure: unknown = null;
    if (file !== null) {
      try {
        await removeOwnSocketFile(this.serverAddress, file);
      } catch (error) {
        failure = error;
      }
    }
    await super.serverClose();
    if (failure !== null) throw failure;
  }
}
