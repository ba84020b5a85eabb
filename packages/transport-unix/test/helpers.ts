/**
 * Test helpers: private temp directories, a Python `socket` client, and
 * Node clients for Unix stream and datagram sockets.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnixDatagramSocket } from '../src/index.js';

export const TEST_STR = 'hello world\n';

/** A fresh private directory under the system temp dir; `cleanup` removes it. */
export async function makeTempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'ssux-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Python's `stream_examine`: send TEST_STR, read a line back. */
export function streamExamine(path: string, data = TEST_STR): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ path });
    let received = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(data));
    socket.on('data', (chunk: string) => {
      received += chunk;
      if (received.includes('\n')) socket.end();
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(received));
  });
}

/** Resolves with the error of a connection attempt, or null when it connected. */
export function tryConnect(path: string): Promise<NodeJS.ErrnoException | null> {
  return new Promise((resolve) => {
    const socket = connect({ path });
    socket.on('connect', () => {
      socket.destroy();
      resolve(null);
    });
    socket.on('error', (error) => resolve(error));
  });
}

/**
 * Runs a Python 3 script (`python3 -c`) with arguments; resolves with its
 * stdout, rejects with its stderr. The scripts set their own socket
 * timeouts; the process is killed after 20 s in any case.
 */
export function runPython(script: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('python3', ['-c', script, ...args], { timeout: 20_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`python3 failed: ${error.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** A Unix datagram client bound to `path` (or unbound with `null`), on the package's own socket. */
export class DgramClient {
  readonly socket: UnixDatagramSocket;
  #messages: Array<{ data: Buffer; from: string }> = [];
  #waiters: Array<(message: { data: Buffer; from: string }) => void> = [];

  constructor(path: string | null) {
    this.socket = new UnixDatagramSocket();
    this.socket.on('message', (data, from) => {
      const message = { data, from };
      const waiter = this.#waiters.shift();
      if (waiter) waiter(message);
      else this.#messages.push(message);
    });
    if (path !== null) this.socket.bind(path);
  }

  send(data: string | Buffer, path: string): Promise<void> {
    try {
      this.socket.send(data, path);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The next datagram received. */
  receive(): Promise<{ data: Buffer; from: string }> {
    const message = this.#messages.shift();
    if (message) return Promise.resolve(message);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  close(): void {
    this.socket.close();
  }
}
