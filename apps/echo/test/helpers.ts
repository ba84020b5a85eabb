/**
 * Test helpers: start the built CLI as a real process, and talk to it as an
 * independent client (Node's `net` for streams, Python's `socket` module for
 * datagrams).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

/** The built bin. */
export const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
/** The datagram client script. */
export const DGRAM_CLIENT = fileURLToPath(new URL('./dgram_client.py', import.meta.url));

const running = new Set<ChildProcess>();

/** How a process ended. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A process started from the CLI, with its output collected. */
export interface Run {
  proc: ChildProcess;
  /** Everything written to stdout so far. */
  stdout(): string;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Resolves when stdout has matched `pattern`; rejects if the process exits first. */
  waitForStdout(pattern: RegExp): Promise<void>;
  /** Resolves when stderr has matched `pattern`; rejects if the process exits first. */
  waitForStderr(pattern: RegExp): Promise<void>;
  /** Resolves when the process has exited. */
  exited: Promise<Exit>;
}

/** Runs the CLI with `args`. */
export function run(args: string[], options: RunOptions = {}): Run {
  return runFile(CLI, args, options);
}

/** How to start a process. */
export interface RunOptions {
  /** In a process group of its own (its pid is the group's id), as a terminal starts a job. */
  detached?: boolean;
  /** Variables added to the environment. */
  env?: Record<string, string>;
}

/** Runs a copy of the CLI at `file` with `args`. */
export function runFile(file: string, args: string[], options: RunOptions = {}): Run {
  const proc = spawn(process.execPath, [file, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.detached ?? false,
    ...(options.env === undefined ? {} : { env: { ...process.env, ...options.env } }),
  });
  running.add(proc);
  let out = '';
  let err = '';
  const watchers = new Set<() => void>();
  proc.stdout!.setEncoding('utf8').on('data', (text: string) => {
    out += text;
    for (const watch of watchers) watch();
  });
  proc.stderr!.setEncoding('utf8').on('data', (text: string) => {
    err += text;
    for (const watch of watchers) watch();
  });
  const exited = new Promise<Exit>((resolve) => {
    proc.once('close', (code, signal) => {
      running.delete(proc);
      resolve({ code, signal });
    });
  });
  const waitFor = (test: () => boolean, what: string) =>
    new Promise<void>((resolve, reject) => {
      const watch = () => {
        if (!test()) return;
        watchers.delete(watch);
        resolve();
      };
      watchers.add(watch);
      watch();
      void exited.then((exit) => {
        if (!watchers.has(watch)) return;
        watchers.delete(watch);
        reject(new Error(`exited (${JSON.stringify(exit)}) before ${what}; stderr: ${err}`));
      });
    });
  return {
    proc,
    stdout: () => out,
    stderr: () => err,
    waitForStdout: (pattern) => waitFor(() => pattern.test(out), `stdout matched ${pattern}`),
    waitForStderr: (pattern) => waitFor(() => pattern.test(err), `stderr matched ${pattern}`),
    exited,
  };
}

/** Where a started echo server listens, parsed from its ready line. */
export type Target =
  | { transport: 'tcp' | 'tls' | 'udp'; host: string; port: number }
  | { transport: 'unix' | 'unix-dgram'; path: string };

/** A started echo server. */
export interface EchoServer extends Run {
  /** The ready line, without its newline. */
  readyLine: string;
  /** The mode in the ready line. */
  mode: string;
  /** The URL in the ready line. */
  url: string;
  /** The URL, parsed. */
  target: Target;
  /** What the ready line says after the URL, in parentheses (`''` when nothing). */
  notes: string;
}

const READY = /^echo server \((\w+)\) listening on (\S+)(?: \((.*)\))?$/;

/** Starts the CLI with `args` and waits for its ready line. */
export function startEcho(args: string[], options: RunOptions = {}): Promise<EchoServer> {
  return startEchoFile(CLI, args, options);
}

/** Starts a copy of the CLI at `file` with `args` and waits for its ready line. */
export async function startEchoFile(
  file: string,
  args: string[],
  options: RunOptions = {},
): Promise<EchoServer> {
  const started = runFile(file, args, options);
  await started.waitForStdout(/\n/);
  const readyLine = started.stdout().slice(0, started.stdout().indexOf('\n'));
  const match = READY.exec(readyLine);
  if (match === null) throw new Error(`not a ready line: ${JSON.stringify(readyLine)}`);
  return {
    ...started,
    readyLine,
    mode: match[1]!,
    url: match[2]!,
    notes: match[3] ?? '',
    target: parseUrl(match[2]!),
  };
}

/** Parses `tcp://127.0.0.1:1234`, `tls://...`, `udp://[::1]:1234`, `unix:///path`, `unix-dgram:///path`. */
export function parseUrl(url: string): Target {
  const inet = /^(tcp|tls|udp):\/\/(?:\[([^\]]+)\]|([^:/]+)):(\d+)$/.exec(url);
  if (inet) {
    return {
      transport: inet[1] as 'tcp' | 'tls' | 'udp',
      host: inet[2] ?? inet[3]!,
      port: Number(inet[4]),
    };
  }
  const unix = /^(unix|unix-dgram):\/\/(\/.*)$/.exec(url);
  if (unix) return { transport: unix[1] as 'unix' | 'unix-dgram', path: unix[2]! };
  throw new Error(`not an echo URL: ${url}`);
}

/** Kills every process a test left running (for afterAll). */
export async function killAll(): Promise<void> {
  await Promise.all(
    [...running].map(
      (proc) =>
        new Promise<void>((resolve) => {
          proc.once('close', () => resolve());
          proc.kill('SIGKILL');
        }),
    ),
  );
}

/** A stream client that records what it receives, and when the server ends. */
export class StreamClient {
  readonly socket: Socket;
  #chunks: Buffer[] = [];
  #length = 0;
  #ended = false;
  #closed = false;
  #waiters = new Set<() => void>();
  /** Resolves with everything received when the server has closed its side. */
  readonly done: Promise<Buffer>;

  private constructor(socket: Socket, log: string[] | undefined, name: string) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      if (this.#length === 0) log?.push(`${name}:data`);
      this.#chunks.push(chunk);
      this.#length += chunk.length;
      this.#wake();
    });
    socket.once('close', () => {
      this.#closed = true;
      this.#wake();
    });
    this.done = new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.once('end', () => {
        log?.push(`${name}:end`);
        this.#ended = true;
        this.#wake();
        resolve(this.received());
      });
    });
    this.done.catch(() => {});
  }

  /** Wraps a socket already connected (a TLS one, say). */
  static over(socket: Socket, name = 'client'): StreamClient {
    return new StreamClient(socket, undefined, name);
  }

  /** Connects to a stream target; `log` records this client's first data and its end. */
  static connect(target: Target, log?: string[], name = 'client'): Promise<StreamClient> {
    return new Promise((resolve, reject) => {
      const options =
        'path' in target ? { path: target.path } : { host: target.host, port: target.port };
      const socket = connect({ ...options, allowHalfOpen: true });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new StreamClient(socket, log, name));
      });
    });
  }

  /** Bytes received so far. */
  get length(): number {
    return this.#length;
  }

  /** Everything received so far. */
  received(): Buffer {
    return Buffer.concat(this.#chunks);
  }

  /** Writes bytes; resolves when they are handed to the kernel. */
  write(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) =>
      this.socket.write(data, (error) => (error ? reject(error) : resolve())),
    );
  }

  /** Resolves once `n` bytes in all have been received; rejects if the connection ends first. */
  waitForLength(n: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.#length >= n) {
          this.#waiters.delete(check);
          resolve(this.received());
        } else if (this.#ended || this.#closed) {
          this.#waiters.delete(check);
          reject(new Error(`the connection ended after ${this.#length} of ${n} bytes`));
        }
      };
      this.#waiters.add(check);
      check();
    });
  }

  /** Half-closes (after `data`, if given) and returns everything received until the server ends. */
  async end(data?: string | Buffer): Promise<Buffer> {
    if (data === undefined) this.socket.end();
    else this.socket.end(data);
    const all = await this.done;
    this.socket.destroy();
    return all;
  }

  #wake(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }
}

/** Random bytes without a newline: one line's body. */
export function lineBody(size: number, seed: number): Buffer {
  const bytes = Buffer.alloc(size);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    const byte = x >>> 24;
    bytes[i] = byte === 0x0a ? 0x0b : byte;
  }
  return bytes;
}

/** Runs `python3 test/dgram_client.py` with `args`; resolves with its stdout, rejects on failure. */
export function dgramClient(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const proc = spawn('python3', [DGRAM_CLIENT, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(proc);
    let out = '';
    let err = '';
    proc.stdout.setEncoding('utf8').on('data', (text: string) => {
      out += text;
    });
    proc.stderr.setEncoding('utf8').on('data', (text: string) => {
      err += text;
    });
    proc.once('close', (code) => {
      running.delete(proc);
      if (code === 0) resolve(out);
      else reject(new Error(`dgram_client ${args.join(' ')} exited ${code}: ${err}${out}`));
    });
  });
}

/** What Linux's /proc says about a process: its thread count and its children's command lines. */
export interface ProcessFacts {
  threads: number;
  children: string[];
}

/** Reads {@link ProcessFacts} of `pid` from /proc (Linux, where the tests run). */
export function processFacts(pid: number): ProcessFacts {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const threads = Number(/^Threads:\s+(\d+)$/m.exec(status)?.[1]);
  const children = readdirSync(`/proc/${pid}/task`)
    .flatMap((task) => {
      try {
        return readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').split(' ');
      } catch {
        return []; // the thread ended meanwhile
      }
    })
    .filter((child) => child !== '')
    .map((child) => {
      try {
        return readFileSync(`/proc/${child}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      } catch {
        return ''; // the child exited meanwhile
      }
    })
    .filter((cmdline) => cmdline !== '');
  return { threads, children };
}
