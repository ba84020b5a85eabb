/**
 * systemd socket activation (`sd_listen_fds_with_names(3)`): the listening
 * sockets a service manager made and passed as descriptors 3 and up, named
 * by `LISTEN_FDNAMES`, for the process named by `LISTEN_PID`.
 *
 * @module
 */
import { readlinkSync } from 'node:fs';
import { SocketServerError } from './errors.js';
import { inspectSocket, type SocketKind } from './socket-inspect.js';

/** The first inherited descriptor (`SD_LISTEN_FDS_START`). */
export const SD_LISTEN_FDS_START = 3;

/** A socket inherited from the service manager. */
export interface InheritedSocket {
  /** Its file descriptor (3 and up). */
  fd: number;
  /** Its name from `LISTEN_FDNAMES` (a `.socket` unit's `FileDescriptorName=`), or `unknown` when none was given. */
  name: string;
  /** What it is, read from `/proc` (`unknown` off Linux). */
  kind: SocketKind;
  /** A Unix socket's bound path; `''` for others. */
  path: string;
  /** Whether a server has taken it (`takeListenFd`). */
  taken: boolean;
}

/**
 * The environment says sockets were passed but says it wrongly (a
 * `LISTEN_FDS` that is not a number, names that do not match the count), or
 * a server was asked to take a socket it cannot use. Code
 * `ERR_SOCKETSERVER_SOCKET_ACTIVATION`.
 */
export class SocketActivationError extends SocketServerError {
  /** @param message - what is wrong. */
  constructor(message: string) {
    super('ERR_SOCKETSERVER_SOCKET_ACTIVATION', message);
  }
}

const VARIABLES = ['LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES'] as const;
/** One parse per process, shared by every copy of this package loaded in it. */
const CACHE = Symbol.for('@socketserver/core.listenFds');

/**
 * The sockets passed to this process by socket activation, in order; empty
 * when there are none, or when `LISTEN_PID` names another process. The
 * first call reads `LISTEN_PID`, `LISTEN_FDS` and `LISTEN_FDNAMES` and
 * removes them from `process.env` (so child processes, which cannot use the
 * descriptors as theirs, do not see them); later calls return the same list.
 * Throws {@link SocketActivationError} when the variables are malformed.
 */
export function listenFds(): readonly InheritedSocket[] {
  const global = globalThis as { [CACHE]?: InheritedSocket[] };
  global[CACHE] ??= readEnvironment();
  return global[CACHE];
}

function readEnvironment(): InheritedSocket[] {
  const env = Object.fromEntries(VARIABLES.map((name) => [name, process.env[name]]));
  for (const name of VARIABLES) delete process.env[name];
  if (env.LISTEN_PID === undefined || env.LISTEN_FDS === undefined) return [];
  if (!/^\d+$/.test(env.LISTEN_PID)) {
    throw new SocketActivationError(
      `LISTEN_PID is not a process id: ${JSON.stringify(env.LISTEN_PID)}`,
    );
  }
  if (Number(env.LISTEN_PID) !== process.pid) return [];
  if (!/^\d+$/.test(env.LISTEN_FDS)) {
    throw new SocketActivationError(`LISTEN_FDS is not a count: ${JSON.stringify(env.LISTEN_FDS)}`);
  }
  const count = Number(env.LISTEN_FDS);
  const names = env.LISTEN_FDNAMES === undefined ? null : env.LISTEN_FDNAMES.split(':');
  if (names !== null && names.length !== count) {
    throw new SocketActivationError(
      `LISTEN_FDNAMES names ${names.length} sockets but LISTEN_FDS says ${count}`,
    );
  }
  return Array.from({ length: count }, (_, i) => {
    const fd = SD_LISTEN_FDS_START + i;
    const { kind, path } = inspectSocket(fd);
    return { fd, name: names?.[i] ?? 'unknown', kind, path, taken: false };
  });
}

/**
 * Takes an inherited socket for a server: the one named `name` when given
 * (`LISTEN_FDNAMES`), else the only one of a kind in `kinds` (on Linux,
 * where the kind is known). Returns `undefined` when there is none to take;
 * throws {@link SocketActivationError} when the named socket is of another
 * kind or several match without a name to choose.
 */
export function takeListenFd(
  kinds: SocketKind | readonly SocketKind[],
  name?: string,
): InheritedSocket | undefined {
  const wanted: readonly SocketKind[] = typeof kinds === 'string' ? [kinds] : kinds;
  const free = listenFds().filter((socket) => !socket.taken);
  const fits = (socket: InheritedSocket) =>
    socket.kind === 'unknown' || wanted.includes(socket.kind);
  const candidates = name === undefined ? free.filter(fits) : free.filter((s) => s.name === name);
  if (candidates.length === 0) return undefined;
  const [socket] = candidates as [InheritedSocket];
  if (!fits(socket)) {
    throw new SocketActivationError(
      `the inherited socket ${JSON.stringify(socket.name)} (fd ${socket.fd}) is ${socket.kind}, not ${wanted.join(' or ')}`,
    );
  }
  if (candidates.length > 1) {
    throw new SocketActivationError(
      `${candidates.length} inherited ${wanted.join('/')} sockets (${candidates.map((s) => `${s.name}=fd ${s.fd}`).join(', ')}): say which by name (FileDescriptorName= in the .socket unit)`,
    );
  }
  socket.taken = true;
  return socket;
}

/**
 * Checks that `fd` is a socket a server of `kind` can serve (on Linux; a
 * descriptor of unknown kind elsewhere is left to the bind to judge). Throws
 * {@link SocketActivationError}.
 */
export function assertSocketKind(fd: number, kind: SocketKind, server: string): void {
  if (!Number.isInteger(fd) || fd < 0) {
    throw new SocketActivationError(
      `listenFd must be a file descriptor (an integer >= 0), got ${String(fd)}`,
    );
  }
  if (isLinux() && !isSocket(fd)) {
    throw new SocketActivationError(`${server} cannot serve fd ${fd}: it is not an open socket`);
  }
  const facts = inspectSocket(fd);
  if (facts.kind === 'unknown' || facts.kind === kind) return;
  throw new SocketActivationError(
    `${server} cannot serve fd ${fd}: it is a ${facts.kind} socket, not ${kind}`,
  );
}

function isLinux(): boolean {
  return process.platform === 'linux';
}

function isSocket(fd: number): boolean {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:');
  } catch {
    return false;
  }
}
