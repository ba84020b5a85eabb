/**
 * UnixDatagramSocket: the addon's socket on its own, including what only
 * native code can get wrong: errors as Node-style system errors, abstract
 * names, an inherited fd, a socket left open when a worker thread exits, and
 * one dropped without close().
 */
import { execFile, spawn } from 'node:child_process';
import { fstatSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClosedError, InvalidArgumentError } from '@socketserver/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { UnixDatagramSocket } from '../src/index.js';
import { makeTempDir } from './helpers.js';

const distIndex = fileURLToPath(new URL('../dist/index.js', import.meta.url));

let dir: string;
let cleanup: () => Promise<void>;
let counter = 0;
const sockets: UnixDatagramSocket[] = [];
const pick = () => join(dir, `s.${++counter}`);

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir());
});
afterEach(() => {
  for (const socket of sockets.splice(0)) socket.close();
});
afterAll(() => cleanup());

function open(options?: ConstructorParameters<typeof UnixDatagramSocket>[0]): UnixDatagramSocket {
  const socket = new UnixDatagramSocket(options);
  sockets.push(socket);
  return socket;
}

function next(socket: UnixDatagramSocket): Promise<[Buffer, string]> {
  return new Promise((resolve) => socket.once('message', (data, from) => resolve([data, from])));
}

function runNode(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { timeout: 20_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${error.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** Runs node with `fd` as the child's fd 3 (as systemd passes a socket); resolves with its first output. */
function runNodeWithFd3(
  script: string,
  fd: number,
): Promise<{ out: string; exit: Promise<number> }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit', fd],
    timeout: 20_000,
  });
  const exit = new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? -1)));
  return new Promise((resolve, reject) => {
    child.stdout?.once('data', (data: Buffer) => resolve({ out: data.toString(), exit }));
    child.once('error', reject);
    void exit.then((code) => reject(new Error(`child exited with ${code} before writing`)));
  });
}

describe('UnixDatagramSocket', () => {
  it('sends and receives datagrams whole, with the sender path, both ways', async () => {
    const a = open();
    const b = open();
    a.bind(pick());
    b.bind(pick());
    expect(a.address()).toMatch(/s\.\d+$/);
    const got = next(b);
    expect(a.send('one datagram', b.address())).toBe(12);
    expect(await got).toEqual([Buffer.from('one datagram'), a.address()]);
    const back = next(a);
    b.send(new Uint8Array([0, 1, 2, 255]), a.address());
    expect(await back).toEqual([Buffer.from([0, 1, 2, 255]), b.address()]);
  });

  it('an abstract name is exact-length, and an unbound sender is reported as ""', async () => {
    const server = open();
    const name = `\0ssux-sock-${process.pid}-${++counter}`;
    server.bind(name);
    expect(server.address()).toBe(name);
    const abstractClient = open();
    abstractClient.bind(`${name}-client`);
    const got = next(server);
    abstractClient.send('x', name);
    expect((await got)[1]).toBe(`${name}-client`);
    const unbound = open();
    const again = next(server);
    unbound.send('y', name);
    expect(await again).toEqual([Buffer.from('y'), '']);
  });

  it('connect sets the default destination', async () => {
    const server = open();
    server.bind(pick());
    const client = open();
    client.connect(server.address());
    const got = next(server);
    client.send('to the connected peer');
    expect((await got)[0].toString()).toBe('to the connected peer');
  });

  it('maxPacketSize truncates what is received', async () => {
    const small = open({ maxPacketSize: 5 });
    small.bind(pick());
    const got = next(small);
    open().send('0123456789', small.address());
    expect((await got)[0].toString()).toBe('01234');
  });

  it('errors are Node-style system errors, thrown at once', () => {
    const socket = open();
    const missing = join(dir, 'nobody-here');
    expect(() => socket.send('x', missing)).toThrow(
      expect.objectContaining({ code: 'ENOENT', syscall: 'sendto', path: missing }),
    );
    const taken = pick();
    socket.bind(taken);
    expect(() => open().bind(taken)).toThrow(expect.objectContaining({ code: 'EADDRINUSE' }));
    expect(() => open().bind(join(dir, 'x'.repeat(120)))).toThrow(InvalidArgumentError);
    expect(() => open().send('x')).toThrow(expect.objectContaining({ code: 'ENOTCONN' }));
  });

  it('a full receiver fails the send with EAGAIN instead of blocking', () => {
    const receiver = open();
    receiver.bind(pick());
    const sender = open();
    let sent = 0;
    let failure: unknown = null;
    // The receiver never reads: its queue (net.unix.max_dgram_qlen, 512 by default) fills.
    for (; sent < 100_000 && failure === null; sent++) {
      try {
        sender.send('fill', receiver.address());
      } catch (error) {
        failure = error;
      }
    }
    expect(failure).toMatchObject({ code: 'EAGAIN' });
    expect(sent).toBeLessThan(100_000);
  });

  it('close is idempotent; a closed socket throws ClosedError and has fd -1', () => {
    const socket = new UnixDatagramSocket();
    expect(socket.fd).toBeGreaterThan(2);
    socket.close();
    socket.close();
    expect(socket.closed).toBe(true);
    expect(socket.fd).toBe(-1);
    expect(() => socket.send('x', pick())).toThrow(ClosedError);
  });

  it('adopts an inherited socket (as systemd passes one) by its fd', async () => {
    const inherited = open();
    inherited.bind(pick());
    const replyTo = open();
    replyTo.bind(pick());
    const reply = next(replyTo);
    // The child gets the bound socket as fd 3, receives one datagram on it, and answers.
    const child = await runNodeWithFd3(
      `
      const { UnixDatagramSocket } = await import(${JSON.stringify(distIndex)});
      const socket = new UnixDatagramSocket({ fd: 3 });
      socket.on('message', (data, from) => {
        socket.send('child got ' + data, from);
        socket.close();
      });
      process.stdout.write(socket.address());
    `,
      inherited.fd,
    );
    expect(child.out).toBe(inherited.address());
    // The parent's copy stops reading, so the child gets the datagram.
    inherited.close();
    replyTo.send('hello', child.out);
    expect(await reply).toEqual([Buffer.from('child got hello'), child.out]);
    expect(await child.exit).toBe(0);
    const notDgram = runNode([
      '--input-type=module',
      '-e',
      `const { UnixDatagramSocket } = await import(${JSON.stringify(distIndex)});
       try { new UnixDatagramSocket({ fd: 0 }); } catch (e) { process.stdout.write(e.code); }`,
    ]);
    expect(await notDgram).toMatch(/^(ENOTSOCK|ENOTSUP)$/);
  });

  // A socket's abstract name is free again exactly when the socket is closed: binding it
  // again tells whether the native code closed the socket.
  it('a worker thread that exits with a socket open and receiving neither crashes nor leaks it', async () => {
    const out = await runNode([
      '--input-type=module',
      '-e',
      `
      import { Worker } from 'node:worker_threads';
      const { UnixDatagramSocket } = await import(${JSON.stringify(distIndex)});
      const name = '\\0ssux-worker-' + process.pid;
      const code = \`
        const { parentPort, workerData } = await import('node:worker_threads');
        const { UnixDatagramSocket } = await import(${JSON.stringify(distIndex)});
        const socket = new UnixDatagramSocket();
        socket.bind(workerData);
        socket.on('message', () => {});
        parentPort.postMessage('bound');
      \`;
      const worker = new Worker(code, { eval: true, type: 'module', workerData: name });
      await new Promise((resolve) => worker.once('message', resolve));
      let whileAlive = 'free';
      try { new UnixDatagramSocket().bind(name); } catch (e) { whileAlive = e.code; }
      await worker.terminate();
      const again = new UnixDatagramSocket();
      again.bind(name);
      again.close();
      console.log(JSON.stringify({ whileAlive, after: 'free' }));
    `,
    ]);
    expect(JSON.parse(out)).toEqual({ whileAlive: 'EADDRINUSE', after: 'free' });
  });

  it('a socket dropped without close() is closed when collected', async () => {
    const out = await runNode([
      '--expose-gc',
      '--input-type=module',
      '-e',
      `
      const { UnixDatagramSocket } = await import(${JSON.stringify(distIndex)});
      const name = '\\0ssux-gc-' + process.pid;
      new UnixDatagramSocket().bind(name);
      let before = 'free';
      try { new UnixDatagramSocket().bind(name); } catch (e) { before = e.code; }
      let after = 'EADDRINUSE';
      for (let i = 0; i < 20 && after !== 'free'; i++) {
        globalThis.gc();
        await new Promise((resolve) => setImmediate(resolve));
        try {
          const probe = new UnixDatagramSocket();
          probe.bind(name);
          probe.close();
          after = 'free';
        } catch {}
      }
      console.log(JSON.stringify({ before, after }));
    `,
    ]);
    expect(JSON.parse(out)).toEqual({ before: 'EADDRINUSE', after: 'free' });
  });

  it('an unreferenced socket does not keep the process alive', async () => {
    const out = await runNode([
      '--input-type=module',
      '-e',
      `
      const { UnixDatagramSocket } = await import(${JSON.stringify(distIndex)});
      const socket = new UnixDatagramSocket();
      socket.bind('\\0ssux-unref-' + process.pid);
      socket.on('message', () => {});
      socket.unref();
      process.on('exit', () => console.log('exited'));
    `,
    ]);
    expect(out.trim()).toBe('exited');
  });

  it('fd stays usable for fstat while open', () => {
    const socket = open();
    expect(fstatSync(socket.fd).isSocket()).toBe(true);
  });
});
