/**
 * Starting and always stopping the benchmark's processes: servers in their
 * own process group (so a forking server's children go with it), load
 * generators over IPC (Node) or pipes (native). Everything started is killed on exit, SIGINT and
 * SIGTERM.
 *
 * @module
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ControlMessage, LoadConfig, ReadyMessage, ResultMessage } from './load-config.js';
import { type GeneratorKind, spawnNativeGenerator } from './native-gen.js';
import type { ReadyLine } from './targets.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The bench package's directory. */
export const benchDir = resolve(here, '..');

const live = new Set<ChildProcess>();
/** Servers' process groups, kept until killed (their leader may exit before its children). */
const groups = new Set<ChildProcess>();
let hooked = false;

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

/** SIGKILLs whatever is left of a process group whose leader may already have exited. */
function killRemainingGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // the group is empty
  }
}

/** Kills every process this module started (synchronous, safe in an exit handler). */
export function killAll(): void {
  for (const child of live) {
    child.stdin?.destroy();
    killGroup(child, 'SIGKILL');
  }
  for (const child of groups) killRemainingGroup(child);
  groups.clear();
  live.clear();
}

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', killAll);
}

/**
 * For the benchmark's command line: on Ctrl-C or a termination signal, says
 * so, stops every process it started and exits. (Not installed by the
 * functions above: a test runner that imports them stops its workers with
 * signals of its own.)
 */
export function stopAllOnSignals(): void {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping every process it started\n`);
      killAll();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  }
}

/** A running echo server. */
export interface ServerHandle {
  ready: ReadyLine;
  child: ChildProcess;
  /** Sends a stdin command and resolves with the first stdout line starting with `answerPrefix`. */
  command(line: string, answerPrefix: string, timeoutMs?: number): Promise<string>;
  /** Resident set size of the server's main process, from /proc (bytes). */
  rss(): number;
  /** Resident set size of the server's whole process group (its children included), in bytes. */
  groupRss(): number;
  stop(): Promise<void>;
}

/** Why a server could not run: `unavailable` (a missing package or class) or `failed`. */
export class ServerStartError extends Error {
  constructor(
    readonly kind: 'unavailable' | 'failed',
    message: string,
  ) {
    super(message);
  }
}

/**
 * Starts a server (`command args`) in its own process group and waits for
 * its `READY` line.
 */
export function startServer(
  command: string,
  args: string[],
  options: { timeoutMs?: number; shell?: string } = {},
): Promise<ServerHandle> {
  hookExit();
  const child = options.shell
    ? spawn('/bin/sh', ['-c', options.shell, 'sh', command, ...args], {
        detached: true,
        stdio: ['pipe', 'pipe', 'pipe'],
      })
    : spawn(command, args, { detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
  live.add(child);
  groups.add(child);
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (text: string) => {
    stderr = (stderr + text).slice(-2000);
  });
  child.stdin!.on('error', () => {});
  const waiters: Array<{ prefix: string; resolve: (line: string) => void }> = [];
  createInterface({ input: child.stdout!, crlfDelay: Number.POSITIVE_INFINITY }).on(
    'line',
    (line: string) => {
      const at = waiters.findIndex((waiter) => line.startsWith(waiter.prefix));
      if (at >= 0) waiters.splice(at, 1)[0]!.resolve(line);
    },
  );
  let spawnError: Error | null = null;
  const exited = new Promise<void>((done) => {
    child.once('exit', () => done());
    // A program that cannot start (python3 not installed) emits 'error' and may never exit.
    child.once('error', (error) => {
      spawnError = error;
      done();
    });
  });
  exited.then(() => live.delete(child));
  const nextLine = (prefix: string, timeoutMs: number) =>
    new Promise<string>((resolvePromise, reject) => {
      const timer = setTimeout(() => {
        reject(new ServerStartError('failed', `no "${prefix}" within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = {
        prefix,
        resolve: (line: string) => {
          clearTimeout(timer);
          resolvePromise(line);
        },
      };
      waiters.push(waiter);
      exited.then(() => {
        clearTimeout(timer);
        reject(
          spawnError !== null
            ? new ServerStartError('unavailable', `${command} cannot start: ${spawnError.message}`)
            : new ServerStartError(
                'failed',
                `exited (${child.exitCode ?? child.signalCode}) ${stderr.trim().split('\n').slice(-3).join(' | ')}`,
              ),
        );
      });
    });
  const stop = async () => {
    child.stdin!.end();
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 2000);
    killGroup(child, 'SIGTERM');
    await exited;
    clearTimeout(timer);
    groups.delete(child);
    // A forking server's children are in the group too (and may ignore SIGTERM, or outlive
    // the leader): make sure none stays, even though the leader has exited.
    killRemainingGroup(child);
  };
  const timeoutMs = options.timeoutMs ?? 20_000;
  return Promise.race([nextLine('READY ', timeoutMs), nextLine('UNAVAILABLE ', timeoutMs)]).then(
    async (line) => {
      if (line.startsWith('UNAVAILABLE ')) {
        await stop();
        throw new ServerStartError('unavailable', line.slice('UNAVAILABLE '.length));
      }
      const ready = JSON.parse(line.slice('READY '.length)) as ReadyLine;
      return {
        ready,
        child,
        command: (text: string, answerPrefix: string, wait = 10_000) => {
          const answer = nextLine(answerPrefix, wait);
          child.stdin!.write(`${text}\n`);
          return answer;
        },
        rss: () => rssOf(ready.pid),
        groupRss: () => groupRss(child.pid!),
        stop,
      };
    },
    async (error) => {
      await stop();
      throw error;
    },
  );
}

/** VmRSS of a process in bytes (0 if it is gone). */
export function rssOf(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /VmRSS:\s+(\d+)\s+kB/.exec(status);
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** A load generator process. */
export interface Generator {
  ready: Promise<ReadyMessage>;
  result: Promise<ResultMessage>;
  send(message: ControlMessage): void;
  /** Calls `listener` when the generator's measured window starts and ends. */
  onWindow(listener: (phase: 'start' | 'end') => void): void;
  kill(): void;
}

/**
 * Starts one load generator with `config`: the native one
 * (`dist/loadgen-native`, JSON lines over stdin/stdout) or the Node one
 * (`dist/loadgen.js`, forked, messages over IPC). Both present the same
 * {@link Generator}.
 */
export function startGenerator(
  config: LoadConfig,
  timeoutMs: number,
  kind: GeneratorKind = 'node',
): Generator {
  hookExit();
  let child: ChildProcess;
  let messages: EventEmitter;
  let send: (control: ControlMessage) => void;
  if (kind === 'native') {
    ({ child, messages, send } = spawnNativeGenerator(config));
  } else {
    child = fork(resolve(benchDir, 'dist', 'loadgen.js'), [JSON.stringify(config)], {
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    messages = child;
    send = (control) => {
      if (child.connected) child.send(control);
    };
  }
  live.add(child);
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (text: string) => {
    stderr = (stderr + text).slice(-2000);
  });
  // 'close' (not 'exit'): messages sent just before exiting may still be on their way at 'exit'.
  // A program that cannot start (not executable) emits 'error' and may never close.
  const exited = new Promise<void>((done) => {
    child.once('close', () => done());
    child.once('error', (error) => {
      stderr += ` ${error.message}`;
      done();
    });
  });
  exited.then(() => live.delete(child));
  const message = <T>(type: string): Promise<T> =>
    new Promise<T>((resolvePromise, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`load generator: no ${type} within ${timeoutMs} ms`));
      }, timeoutMs);
      messages.on('message', (received: { type?: string }) => {
        if (received?.type !== type) return;
        clearTimeout(timer);
        resolvePromise(received as T);
      });
      exited.then(() => {
        clearTimeout(timer);
        reject(
          new Error(
            `${kind} load generator exited (${child.exitCode ?? child.signalCode}) before ${type}: ${stderr.trim().slice(-400)}`,
          ),
        );
      });
    });
  const ready = message<ReadyMessage>('ready');
  const result = message<ResultMessage>('result');
  ready.catch(() => {});
  result.catch(() => {});
  return {
    ready,
    result,
    send,
    onWindow: (listener) => {
      messages.on('message', (received: { type?: string; phase?: 'start' | 'end' }) => {
        if (received?.type === 'window' && received.phase) listener(received.phase);
      });
    },
    kill: () => killGroup(child, 'SIGKILL'),
  };
}

/**
 * Calls `visit` with the pid and the `/proc/<pid>/stat` fields (after the
 * command name) of every process in a process group: a server and the
 * children it forked.
 */
function forEachInGroup(pgid: number, visit: (pid: string, fields: string[]) => void): void {
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the command name (which may contain spaces) start at ") "; fields[2] is pgrp.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid) visit(entry, fields);
    } catch {
      // the process ended meanwhile
    }
  }
}

/**
 * CPU time (ms) used so far by every process in a process group (reaped
 * children count through their parent's cutime/cstime). From /proc; 0 when
 * the group is gone.
 */
export function groupCpuMs(pgid: number): number {
  const tick = 10; // USER_HZ is 100 on Linux
  let total = 0;
  // utime, stime, cutime, cstime are fields[11..14].
  forEachInGroup(pgid, (_pid, fields) => {
    total +=
      (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) * tick;
  });
  return total;
}

/** Resident memory (VmRSS, bytes) of every process in a process group: a server and its children. */
export function groupRss(pgid: number): number {
  let total = 0;
  forEachInGroup(pgid, (pid) => {
    total += rssOf(Number(pid));
  });
  return total;
}

/** The soft and hard open-file limits of this process (from /proc/self/limits). */
export function openFileLimits(): { soft: number; hard: number } {
  try {
    const limits = readFileSync('/proc/self/limits', 'utf8');
    const match = /Max open files\s+(\S+)\s+(\S+)/.exec(limits);
    const parse = (value: string | undefined) =>
      value === 'unlimited' ? Number.POSITIVE_INFINITY : Number(value);
    return { soft: parse(match?.[1]), hard: parse(match?.[2]) };
  } catch {
    return { soft: 1024, hard: 1024 };
  }
}
