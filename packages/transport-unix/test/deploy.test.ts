/**
 * Deployment on Unix sockets: socket activation of UnixStreamServer by
 * `systemd-socket-activate` (the socket file is systemd's and stays after the
 * server closes), of UnixDatagramServer by a harness passing fd 3 and by
 * `systemd-socket-activate --datagram`, a UnixStreamServer behind a real
 * HAProxy sending PROXY version 2 over a Unix socket, and sd_notify to a fake
 * NOTIFY_SOCKET (a path, and an abstract name).
 */
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EventLoopMixIn, StreamRequestHandler } from '@socketserver/core';
import {
  activate,
  fakeNotifySocket,
  startHAProxy,
  systemdSocketActivate,
  type Watched,
} from '@socketserver/test-deploy';
import { afterEach, describe, expect, test } from 'vitest';
import {
  notify,
  notifyReady,
  notifyStatus,
  notifyStopping,
  UnixDatagramSocket,
} from '../src/index.js';
import { UnixStreamServer } from '../src/unix-stream-server.js';
import { makeTempDir, streamExamine } from './helpers.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/activated-echo.mjs', import.meta.url));

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const step of cleanups.splice(0).reverse()) await step();
});

async function tempDir(): Promise<string> {
  const { dir, cleanup } = await makeTempDir();
  cleanups.push(cleanup);
  return dir;
}

/** Sends a datagram from a socket bound at `from` and returns the answer. */
async function askDatagram(from: string, to: string, text: string): Promise<string> {
  const client = new UnixDatagramSocket();
  try {
    client.bind(from);
    const answer = new Promise<string>((resolve) =>
      client.once('message', (data) => resolve(String(data))),
    );
    client.send(text, to);
    return await answer;
  } finally {
    client.close();
  }
}

function track(proc: Watched): Watched {
  cleanups.push(() => proc.stop());
  return proc;
}

describe('socket activation', () => {
  test('UnixStreamServer under systemd-socket-activate: serves the path, leaves the file to systemd', async () => {
    const path = join(await tempDir(), 'activated.sock');
    const proc = track(
      systemdSocketActivate({ listen: [path], command: process.execPath, args: [FIXTURE, 'unix'] }),
    );
    await proc.waitForStderr(/Listening on .* as 3/);
    expect(await streamExamine(path, 'first\n')).toBe('first\n');
    const [, json] = await proc.waitForStdout(/^ready (.*)\n/m);
    expect(JSON.parse(json!)).toEqual({ address: path, fd: 3 });
    expect(await streamExamine(path, 'second\n')).toBe('second\n');
    expect(await proc.stop()).toEqual({ code: 0, signal: null });
    expect(existsSync(path)).toBe(true);
  });

  test('UnixDatagramServer given fd 3 by a harness: serves it, answers a client', async () => {
    const dir = await tempDir();
    const path = join(dir, 'dgram.sock');
    const socket = new UnixDatagramSocket();
    socket.bind(path);
    const proc = track(
      activate({ command: process.execPath, args: [FIXTURE, 'unix-dgram'], sockets: [socket.fd] }),
    );
    // The child has its copy now.
    socket.close();
    const [, json] = await proc.waitForStdout(/^ready (.*)\n/m);
    expect(JSON.parse(json!)).toEqual({ address: path, fd: 3 });
    expect(await askDatagram(join(dir, 'client.sock'), path, 'over fd 3')).toBe('over fd 3');
    expect(await proc.stop()).toEqual({ code: 0, signal: null });
    expect(existsSync(path)).toBe(true);
  });

  test('UnixDatagramServer under systemd-socket-activate --datagram: started by the first datagram', async () => {
    const dir = await tempDir();
    const path = join(dir, 'activated.dgram');
    const proc = track(
      systemdSocketActivate({
        listen: [path],
        datagram: true,
        command: process.execPath,
        args: [FIXTURE, 'unix-dgram'],
      }),
    );
    await proc.waitForStderr(/Listening on .* as 3/);
    expect(await askDatagram(join(dir, 'client.sock'), path, 'first')).toBe('first');
    await proc.waitForStdout(/^ready /m);
  });
});

class WhoHandler extends StreamRequestHandler {
  override async handle(): Promise<void> {
    const line = (await this.rfile.readline()).toString();
    await this.wfile.write(
      `${JSON.stringify({ clientAddress: this.clientAddress, version: this.proxyHeader?.version })} ${line}`,
    );
  }
}

describe('PROXY protocol on a Unix stream server', () => {
  test('behind HAProxy (server unix@... send-proxy-v2): the TCP client at 127.0.0.7', async () => {
    const path = join(await tempDir(), 'backend.sock');
    class Server extends EventLoopMixIn(UnixStreamServer) {
      errors: unknown[] = [];
      override handleError(_r: unknown, _a: unknown, error: unknown) {
        this.errors.push(error);
      }
    }
    const server = await Server.create(path, WhoHandler, { proxyProtocol: true });
    const loop = server.serveForever({ pollInterval: 20 });
    cleanups.push(async () => {
      await server.shutdown();
      await loop;
      await server.serverClose();
    });
    const proxy = await startHAProxy(`
frontend fe
  bind fd@3
  default_backend be
backend be
  server s1 unix@${path} send-proxy-v2
`);
    cleanups.push(() => proxy.stop());
    const answer = await new Promise<{ text: string; localPort: number }>((resolve, reject) => {
      const socket = connect({
        host: '127.0.0.1',
        port: proxy.address.port,
        localAddress: '127.0.0.7',
      });
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        text += chunk;
        if (!text.endsWith('\n')) return;
        const localPort = socket.localPort!;
        socket.end();
        resolve({ text, localPort });
      });
      socket.once('error', reject);
      socket.write('via unix\n');
    });
    expect(answer.text).toBe(
      `${JSON.stringify({ clientAddress: { host: '127.0.0.7', port: answer.localPort, family: 'IPv4' }, version: 2 })} via unix\n`,
    );
    expect(server.errors).toEqual([]);
  });
});

describe('sd_notify', () => {
  test('READY, STATUS and STOPPING reach NOTIFY_SOCKET, one datagram each', async () => {
    const path = join(await tempDir(), 'notify');
    const receiver = await fakeNotifySocket(path);
    cleanups.push(() => receiver.close());
    const saved = process.env.NOTIFY_SOCKET;
    process.env.NOTIFY_SOCKET = path;
    cleanups.push(async () => {
      if (saved === undefined) delete process.env.NOTIFY_SOCKET;
      else process.env.NOTIFY_SOCKET = saved;
    });
    expect(await notifyReady('serving on\nsomething')).toBe(true);
    expect(await notifyStatus('3 connections')).toBe(true);
    expect(await notifyStopping()).toBe(true);
    expect(await notify({ WATCHDOG: 1 })).toBe(true);
    await receiver.next(/^WATCHDOG=1$/);
    expect(receiver.messages()).toEqual([
      'READY=1|STATUS=serving on something',
      'STATUS=3 connections',
      'STOPPING=1',
      'WATCHDOG=1',
    ]);
  });

  test('an abstract NOTIFY_SOCKET (@name)', async () => {
    const name = `socketserver-notify-${process.pid}-${Date.now()}`;
    const receiver = await fakeNotifySocket(`\0${name}`);
    cleanups.push(() => receiver.close());
    const saved = process.env.NOTIFY_SOCKET;
    process.env.NOTIFY_SOCKET = `@${name}`;
    cleanups.push(async () => {
      if (saved === undefined) delete process.env.NOTIFY_SOCKET;
      else process.env.NOTIFY_SOCKET = saved;
    });
    expect(await notifyReady()).toBe(true);
    expect(await receiver.next(/^READY=1$/)).toBe('READY=1');
  });

  test('no NOTIFY_SOCKET: nothing sent, false; a vsock one: UnsupportedError; a dead one: the system error', async () => {
    const saved = process.env.NOTIFY_SOCKET;
    cleanups.push(async () => {
      if (saved === undefined) delete process.env.NOTIFY_SOCKET;
      else process.env.NOTIFY_SOCKET = saved;
    });
    delete process.env.NOTIFY_SOCKET;
    expect(await notifyReady()).toBe(false);
    process.env.NOTIFY_SOCKET = 'vsock:2:1234';
    await expect(notifyReady()).rejects.toMatchObject({ code: 'ERR_SOCKETSERVER_UNSUPPORTED' });
    process.env.NOTIFY_SOCKET = join(await tempDir(), 'nobody');
    await expect(notifyReady()).rejects.toMatchObject({ code: 'ENOENT', syscall: 'sendto' });
  });
});
