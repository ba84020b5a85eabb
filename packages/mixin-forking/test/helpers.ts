/**
 * Test helpers: loopback clients, child-process bookkeeping from /proc, and
 * a serving loop that is always stopped.
 */
import { createSocket } from 'node:dgram';
import { readdirSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import type { BaseServer, InetAddress } from '@socketserver/core';

/** Python's TEST_STR. */
export const TEST_STR = 'hello world\n';

/** A connected client that reads replies line by line. */
export class LineClient {
  readonly socket: Socket;
  /** The local port (how the server names this client), kept after the socket closes. */
  readonly port: number;
  #buffer = '';
  #ended = false;
  #wake: (() => void) | null = null;

  private constructor(socket: Socket) {
    this.socket = socket;
    this.port = socket.localPort ?? 0;
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      this.#buffer += text;
      this.#notify();
    });
    socket.on('end', () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on('close', () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on('error', () => {});
  }

  /** Connects to a TCP server on loopback. */
  static async open(address: InetAddress): Promise<LineClient> {
    const socket = connect(address.port, address.host);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new LineClient(socket);
  }

  send(text: string): void {
    this.socket.write(text);
  }

  /** The next line without its newline; `null` at end of stream. */
  async line(): Promise<string | null> {
    for (;;) {
      const newline = this.#buffer.indexOf('\n');
      if (newline >= 0) {
        const line = this.#buffer.slice(0, newline);
        this.#buffer = this.#buffer.slice(newline + 1);
        return line;
      }
      if (this.#ended) return null;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  /** Everything until end of stream. */
  async rest(): Promise<string> {
    while (!this.#ended) {
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
    const rest = this.#buffer;
    this.#buffer = '';
    return rest;
  }

  close(): void {
    this.socket.destroy();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }
}

/** Python's stream_examine: send TEST_STR, read until a newline, expect it back. */
export async function streamExamine(address: InetAddress): Promise<string> {
  const client = await LineClient.open(address);
  client.socket.end(TEST_STR);
  const reply = await client.rest();
  client.close();
  return reply;
}

/** Python's dgram_examine: send TEST_STR, expect it back, from the server's own address. */
export async function dgramExamine(
  address: InetAddress,
): Promise<{ reply: string; from: { address: string; port: number } }> {
  const socket = createSocket('udp4');
  try {
    const reply = new Promise<{ reply: string; from: { address: string; port: number } }>(
      (resolve) =>
        socket.once('message', (message, rinfo) =>
          resolve({
            reply: message.toString(),
            from: { address: rinfo.address, port: rinfo.port },
          }),
        ),
    );
    socket.send(TEST_STR, address.port, address.host);
    return await reply;
  } finally {
    socket.close();
  }
}

/** Starts `serveForever` and returns a function that stops it and closes the server. */
export function serve(server: BaseServer<any, any>): () => Promise<void> {
  const loop = server.serveForever({ pollInterval: 10 });
  return async () => {
    await server.shutdown();
    await loop;
    await server.serverClose();
  };
}

/**
 * Whether this pid is a live forking child process (one running the child
 * script, zombies excluded). Checking the command line keeps a pid the
 * system has since given to another program from counting.
 */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return false;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(CHILD_SCRIPT);
  } catch {
    return false;
  }
}

/** What the command line of a forking child contains: the host layer's bootstrap names its script. */
const CHILD_SCRIPT = 'socketserver-host.js';

/**
 * The pids of this process's child processes that run the forking child
 * script, plus any zombie child (which would be a child nobody reaped).
 */
export function liveChildPids(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces): state, ppid, ...
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) !== process.pid) continue;
      if (fields[0] === 'Z') pids.push(Number(entry));
      else if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(CHILD_SCRIPT)) {
        pids.push(Number(entry));
      }
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

/** Collects the errors a server's `handleError` receives, and lets a test wait for them. */
export class ErrorLog {
  readonly errors: Array<{ clientAddress: unknown; error: Error }> = [];
  #waiters: Array<() => void> = [];

  add(clientAddress: unknown, error: unknown): void {
    this.errors.push({ clientAddress, error: error as Error });
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /** Resolves once `count` errors were recorded. */
  async waitFor(count: number): Promise<void> {
    while (this.errors.length < count) {
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }
}

/**
 * Sends `body` on a new connection as fast as the connection takes it,
 * closes the write side, and resolves with the reply line.
 */
export async function sendBody(port: number, body: Buffer): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  let reply = '';
  socket.setEncoding('utf8');
  socket.on('data', (text: string) => {
    reply += text;
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.end(body);
  await closed;
  return reply;
}
