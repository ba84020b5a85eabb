/**
 * Readiness for service managers: systemd's `sd_notify(3)` protocol, one
 * Unix datagram of `KEY=value` lines to the socket named by `NOTIFY_SOCKET`
 * (set for `Type=notify` services), sent with {@link UnixDatagramSocket}.
 *
 * @module
 */
import { UnsupportedError } from '@socketserver/core';
import { UnixDatagramSocket } from './unix-datagram-socket.js';

/** Fields of a notification: `READY: 1`, `STATUS: 'text'`, `STOPPING: 1`, `MAINPID: 123`, ... */
export type NotifyState = Record<string, string | number>;

/**
 * Sends a notification to the service manager: `'READY=1'` or
 * `{ READY: 1, STATUS: 'serving' }`. Resolves `true` once sent, `false`
 * when there is no `NOTIFY_SOCKET` (the service was not started as
 * `Type=notify`: nothing to tell). `NOTIFY_SOCKET` is a path, or an abstract
 * name written `@name`. Rejects with the system error when the socket
 * refuses the datagram, and with `UnsupportedError` for another kind of
 * address (systemd's `vsock:` for virtual machines).
 */
export async function notify(state: string | NotifyState): Promise<boolean> {
  const target = process.env.NOTIFY_SOCKET;
  if (target === undefined || target === '') return false;
  const socket = new UnixDatagramSocket();
  try {
    socket.send(typeof state === 'string' ? state : formatState(state), notifyAddress(target));
  } finally {
    socket.close();
  }
  return true;
}

/** `READY=1` (and `STATUS=` when given): the service is up. Call it once the server is serving. */
export function notifyReady(status?: string): Promise<boolean> {
  return notify(withStatus({ READY: 1 }, status));
}

/** `STOPPING=1` (and `STATUS=` when given): the service is shutting down. */
export function notifyStopping(status?: string): Promise<boolean> {
  return notify(withStatus({ STOPPING: 1 }, status));
}

/** `STATUS=`: one line for `systemctl status`. */
export function notifyStatus(status: string): Promise<boolean> {
  return notify({ STATUS: status });
}

/** `NOTIFY_SOCKET` as a socket address: a path, or `@name` for the abstract `'\0name'`. */
function notifyAddress(target: string): string {
  if (target.startsWith('/')) return target;
  if (target.startsWith('@')) return `\0${target.slice(1)}`;
  throw new UnsupportedError(
    `NOTIFY_SOCKET ${JSON.stringify(target)} is neither a path nor an abstract name (@name)`,
  );
}

/** `KEY=value` lines; a value may not hold a newline (it would start another field). */
function formatState(state: NotifyState): string {
  return Object.entries(state)
    .map(([key, value]) => `${key}=${String(value).replace(/\n/g, ' ')}`)
    .join('\n');
}

function withStatus(state: NotifyState, status: string | undefined): NotifyState {
  return status === undefined ? state : { ...state, STATUS: status };
}
