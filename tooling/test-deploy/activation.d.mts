import type { ChildProcess } from 'node:child_process';

/** A process started by these helpers. */
export interface Watched {
  proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the match once stdout matches; rejects if the process exits first. */
  waitForStdout(pattern: RegExp): Promise<RegExpExecArray>;
  /** Resolves with the match once stderr matches; rejects if the process exits first. */
  waitForStderr(pattern: RegExp): Promise<RegExpExecArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `signal` (default SIGTERM) unless it has exited; resolves with how it exited. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs a command with `sockets` as descriptors 3 and up, as systemd's socket activation does. */
export function activate(options: {
  command: string;
  args?: string[];
  /** Descriptors open in this process. */
  sockets: number[];
  /** LISTEN_FDNAMES. */
  names?: string[];
  env?: Record<string, string>;
}): Watched;

/** The systemd-socket-activate binary's path; throws when not installed. */
export function socketActivatePath(): string;

/** Runs systemd-socket-activate, which starts the command on the first connection or datagram. */
export function systemdSocketActivate(options: {
  listen: string[];
  datagram?: boolean;
  fdnames?: string[];
  command: string;
  args?: string[];
  env?: Record<string, string>;
}): Watched;

/** A free TCP port on 127.0.0.1 right now. */
export function freePort(): Promise<number>;

/** A fake NOTIFY_SOCKET (a Unix datagram socket bound by Python) that records notifications. */
export interface FakeNotifySocket {
  path: string;
  /** Each notification so far, its lines joined by `|`. */
  messages(): string[];
  /** Resolves with the first notification matching `pattern`, waiting for it. */
  next(pattern: RegExp): Promise<string | undefined>;
  close(): Promise<unknown>;
}

/** Binds a fake NOTIFY_SOCKET at `path`. */
export function fakeNotifySocket(path: string): Promise<FakeNotifySocket>;
