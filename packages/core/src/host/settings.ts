/**
 * The settings of a pool of hosts: one vocabulary for worker threads and
 * child processes.
 *
 * @module
 */
import { availableParallelism } from 'node:os';
import { InvalidArgumentError } from '../errors.js';

/** How a {@link HostPool} sizes, queues and retires its hosts. */
export interface HostPoolSettings {
  /** The most hosts alive at once (`maxThreads`, `maxChildren` on the mix-ins). Default: the cores. */
  maxHosts: number;
  /**
   * Requests one host serves at once, each on the host's own event loop
   * (default {@link DEFAULT_HOST_CONCURRENCY}). `1` is Python's model: one
   * request per thread or child, which then holds it until the request ends.
   */
  hostConcurrency: number;
  /**
   * Requests that may wait while every host serves `hostConcurrency` and no
   * host can be added (default 64). Past it, the server stops taking
   * requests until one ends: connections wait, paused, in the server's own
   * queue (`requestQueueSize`), and beyond that are refused.
   */
  maxWaitingRequests: number;
  /** How long an idle host lives, in ms, the first one excepted; `null`: for ever (default 10,000). */
  hostIdleTimeout: number | null;
  /**
   * The longest a request may run, in ms (default `null`: no limit). Past
   * it the request's connection is closed and `handleError` gets a
   * `RequestTimeLimitError`; a host that does not let go of the request at
   * once (a handler holding the CPU) is stopped and replaced.
   */
  requestTimeLimit: number | null;
  /** Requests a host serves before it is replaced (Apache's `MaxRequestsPerChild`); `null` (default): no limit. */
  maxRequestsPerHost: number | null;
  /**
   * Node.js options for new hosts. `null` (default): the parent's own
   * (threads inherit them as Node does; children get `process.execArgv`
   * without the debugger, `--eval`, `--watch` and test-runner flags).
   */
  hostExecArgv: string[] | null;
  /** Whether hosts never keep the process alive, busy or not (`daemonThreads`; default false). */
  daemon: boolean;
}

/**
 * The default of `hostConcurrency`, chosen by measurement (bench/README.md,
 * "Choosing hostConcurrency"): a host's kept-connection echo stops gaining
 * throughput after a few dozen connections, so the limit only bounds its
 * memory (about 13 KiB per idle connection) and latency. At 512, two hosts
 * (the default on two cores) hold 1,000 connections without queueing, and a
 * full host's connections cost about half of one more worker thread (13 MiB)
 * or a tenth of one more child (50 MiB).
 */
export const DEFAULT_HOST_CONCURRENCY = 512;

/** The defaults of {@link HostPoolSettings}. */
export function defaultHostPoolSettings(): HostPoolSettings {
  return {
    maxHosts: availableParallelism(),
    hostConcurrency: DEFAULT_HOST_CONCURRENCY,
    maxWaitingRequests: 64,
    hostIdleTimeout: 10_000,
    requestTimeLimit: null,
    maxRequestsPerHost: null,
    hostExecArgv: null,
    daemon: false,
  };
}

/** Setting names of earlier versions, and their names now. */
const RENAMED: Record<string, string> = {
  maxQueuedRequests: 'maxWaitingRequests',
  minThreads: 'nothing (one host starts with the server; idle ones retire after hostIdleTimeout)',
  childIdleTimeout: 'hostIdleTimeout',
  maxRequestsPerChild: 'maxRequestsPerHost',
  childExecArgv: 'hostExecArgv',
};

/**
 * Throws {@link InvalidArgumentError} naming the setting when one is out of
 * range, or when `owner` (a server) still has a setting under an old name.
 * `names` maps each setting to the name the caller knows it by.
 */
export function validateHostPoolSettings(
  settings: HostPoolSettings,
  names: Partial<Record<keyof HostPoolSettings, string>> = {},
  owner?: object,
): void {
  const name = (key: keyof HostPoolSettings) => names[key] ?? key;
  const integer = (key: keyof HostPoolSettings, min: number, nullable = false) => {
    const value = settings[key];
    if (nullable && value === null) return;
    if (!Number.isInteger(value) || (value as number) < min) {
      throw new InvalidArgumentError(
        `${name(key)} must be an integer >= ${min}${nullable ? ' or null' : ''}, got ${String(value)}`,
      );
    }
  };
  const duration = (key: keyof HostPoolSettings, positive: boolean) => {
    const value = settings[key];
    if (value === null) return;
    if (typeof value !== 'number' || !(positive ? value > 0 : value >= 0)) {
      throw new InvalidArgumentError(
        `${name(key)} must be null or a number of ms ${positive ? '> 0' : '>= 0'}, got ${String(value)}`,
      );
    }
  };
  integer('maxHosts', 1);
  integer('hostConcurrency', 1);
  integer('maxWaitingRequests', 0);
  integer('maxRequestsPerHost', 1, true);
  duration('hostIdleTimeout', false);
  duration('requestTimeLimit', true);
  const argv = settings.hostExecArgv;
  if (argv !== null && (!Array.isArray(argv) || argv.some((arg) => typeof arg !== 'string'))) {
    throw new InvalidArgumentError(`${name('hostExecArgv')} must be null or an array of strings`);
  }
  if (owner === undefined) return;
  for (const [old, now] of Object.entries(RENAMED)) {
    if (Object.hasOwn(owner, old)) {
      throw new InvalidArgumentError(`the setting ${old} is now ${now}`);
    }
  }
}

/** Flags a child process must not inherit: they would debug, evaluate or watch a second time. */
const NOT_INHERITED =
  /^(?:--inspect|--debug|--watch|--test|--input-type|--check$|--interactive$|-i$|-c$)/;
/** Flags that take the next argument as their value when it is not given with `=`. */
const WITH_VALUE = new Set(['-e', '--eval', '-p', '--print', '--input-type', '--watch-path']);

/** The parent's `process.execArgv` without what a child must not repeat. */
export function inheritedExecArgv(execArgv: readonly string[] = process.execArgv): string[] {
  const out: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i]!;
    if (WITH_VALUE.has(arg)) {
      i++;
      continue;
    }
    if (/^(?:--eval|--print)=/.test(arg) || NOT_INHERITED.test(arg)) continue;
    out.push(arg);
  }
  return out;
}
