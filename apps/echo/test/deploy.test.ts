/**
 * The deployment flags of the echo CLI, end to end with real tools: TLS with
 * certificates made by openssl (and a SIGHUP reload that keeps open
 * connections), the PROXY protocol behind a real HAProxy, sockets passed by
 * systemd-socket-activate (TCP, Unix stream) and by a harness (UDP, Unix
 * datagram) named in the ready line, and READY=1 / STOPPING=1 sent to a
 * fake NOTIFY_SOCKET. Bad combinations: the usage lines and the error, exit
 * 2; a certificate OpenSSL refuses: one line, exit 1. --quiet reports no
 * failed request.
 */

import { createSocket } from 'node:dgram';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { handleFd } from '@socketserver/core';
import {
  activate,
  fakeNotifySocket,
  freePort,
  makeCertificates,
  startHAProxy,
  systemdSocketActivate,
  type TestCertificates,
  type Watched,
} from '@socketserver/test-deploy';
import { UnixDatagramSocket } from '@socketserver/transport-unix';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { CLI, dgramClient, killAll, lineBody, run, StreamClient, startEcho } from './helpers.js';

/** A usage error: the usage lines, then one line `socketserver-echo: error: MESSAGE`. */
const USAGE_ERROR =
  /^usage: socketserver-echo \[port\] [^\n]*\n(?: {25}\S[^\n]*\n)+socketserver-echo: error: [^\n]+\n$/;

let certs: TestCertificates;
let dir: string;
beforeAll(() => {
  certs = makeCertificates();
  dir = mkdtempSync(join(tmpdir(), 'ssecho-deploy-'));
});
afterAll(async () => {
  await killAll();
  certs.remove();
  rmSync(dir, { recursive: true, force: true });
});

const stops: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

function track(proc: Watched): Watched {
  stops.push(() => proc.stop());
  return proc;
}

function tlsClient(port: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    // tls.connect passes allowHalfOpen on to its socket (its types leave it out).
    const options = {
      host: '127.0.0.1',
      port,
      ca: certs.ca.cert,
      servername: 'localhost',
      allowHalfOpen: true,
    };
    const socket = tlsConnect(options);
    socket.once('secureConnect', () => resolve(socket));
    socket.once('error', reject);
  });
}

async function echoOnce(client: StreamClient, line: string): Promise<void> {
  const before = client.length;
  await client.write(line);
  const got = await client.waitForLength(before + line.length);
  expect(got.subarray(before).toString()).toBe(line);
}

describe('--tls-cert / --tls-key', () => {
  test('serves TLS (tls:// in the ready line); SIGHUP reloads the files, open connections go on', async () => {
    const cert = join(dir, 'live.pem');
    const key = join(dir, 'live-key.pem');
    copyFileSync(certs.server.certFile, cert);
    copyFileSync(certs.server.keyFile, key);
    const echo = await startEcho(['--port', '0', '--tls-cert', cert, '--tls-key', key]);
    expect(echo.readyLine).toMatch(
      /^echo server \(eventloop\) listening on tls:\/\/127\.0\.0\.1:\d+$/,
    );
    const port = (echo.target as { port: number }).port;
    const first = await tlsClient(port);
    expect(first.getPeerCertificate().fingerprint256).toBe(certs.server.fingerprint256);
    const before = StreamClient.over(first);
    await echoOnce(before, 'one\n');

    copyFileSync(certs.renewed.certFile, cert);
    copyFileSync(certs.renewed.keyFile, key);
    echo.proc.kill('SIGHUP');
    await echo.waitForStderr(/SIGHUP received, certificate reloaded/);
    const second = await tlsClient(port);
    expect(second.getPeerCertificate().fingerprint256).toBe(certs.renewed.fingerprint256);
    await echoOnce(StreamClient.over(second), 'two\n');
    await echoOnce(before, 'still here\n');
    const body = lineBody(100_000, 7);
    expect((await before.end(body)).toString('latin1')).toBe(
      `one\nstill here\n${body.toString('latin1')}`,
    );

    // A bad file on SIGHUP: said once, the previous certificate stays.
    copyFileSync(certs.other.keyFile, key);
    echo.proc.kill('SIGHUP');
    await echo.waitForStderr(/certificate not reloaded \(still serving the previous one\)/);
    const third = await tlsClient(port);
    expect(third.getPeerCertificate().fingerprint256).toBe(certs.renewed.fingerprint256);
    third.destroy();
    second.destroy();
    echo.proc.kill('SIGTERM');
    expect(await echo.exited).toEqual({ code: 0, signal: null });
  });

  const bad: Array<[string[], RegExp]> = [
    [['--tls-cert', 'c.pem'], /--tls-cert and --tls-key go together/],
    [['--tls-key', 'k.pem'], /--tls-cert and --tls-key go together/],
    [
      ['--transport', 'udp', '--tls-cert', 'c', '--tls-key', 'k'],
      /--tls-cert does not apply to --transport udp/,
    ],
    [
      ['--tls-cert', '/nonexistent/c.pem', '--tls-key', '/nonexistent/k.pem'],
      /--tls-cert \/nonexistent\/c\.pem: ENOENT/,
    ],
    [
      ['--transport', 'unix-dgram', '--proxy-protocol'],
      /--proxy-protocol does not apply to --transport unix-dgram/,
    ],
    [
      ['--proxy-from', '10.0.0.0/40'],
      /--proxy-from: not an address or CIDR block: "10\.0\.0\.0\/40"/,
    ],
  ];
  for (const [args, message] of bad) {
    test(`bad: ${args.join(' ')}`, async () => {
      const started = run(args);
      expect(await started.exited).toEqual({ code: 2, signal: null });
      expect(started.stderr()).toMatch(USAGE_ERROR);
      expect(started.stderr()).toMatch(message);
    });
  }

  test('a key that does not match the certificate: one line, exit 1', async () => {
    const started = run([
      '--port',
      '0',
      '--tls-cert',
      certs.server.certFile,
      '--tls-key',
      certs.other.keyFile,
    ]);
    expect(await started.exited).toEqual({ code: 1, signal: null });
    expect(started.stderr()).toMatch(
      /^socketserver-echo: [^\n]*TLS settings rejected by OpenSSL[^\n]*\(ERR_SOCKETSERVER_INVALID_ARGUMENT\)\n$/,
    );
  });
});

describe('--proxy-protocol behind HAProxy', () => {
  test('tcp and unix: the client HAProxy accepted is served; the ready line says whom it trusts', async () => {
    const tcp = await startEcho(['--port', '0', '--proxy-protocol']);
    expect(tcp.notes).toBe('PROXY protocol from 127.0.0.0/8,::1/128');
    const path = join(dir, 'proxied.sock');
    const unix = await startEcho(['--unix', path, '--proxy-from', '192.0.2.0/24']);
    expect(unix.notes).toBe('PROXY protocol from 192.0.2.0/24');
    const proxy = await startHAProxy(`
frontend fe
  bind fd@3
  default_backend be
backend be
  balance roundrobin
  server tcp 127.0.0.1:${(tcp.target as { port: number }).port} send-proxy-v2
  server unix unix@${path} send-proxy
`);
    stops.push(() => proxy.stop());
    for (let i = 0; i < 4; i++) {
      const client = await new Promise<StreamClient>((resolve, reject) => {
        const socket = netConnect({
          ...proxy.address,
          localAddress: '127.0.0.3',
          allowHalfOpen: true,
        } as never);
        socket.once('connect', () => resolve(StreamClient.over(socket)));
        socket.once('error', reject);
      });
      expect((await client.end(`through haproxy ${i}\n`)).toString()).toBe(
        `through haproxy ${i}\n`,
      );
    }
    expect(tcp.stderr()).toBe('');
    expect(unix.stderr()).toBe('');
  });

  test('a connection without a header is closed and reported in one line', async () => {
    const echo = await startEcho(['--port', '0', '--proxy-protocol']);
    const client = await StreamClient.connect(echo.target);
    expect((await client.end('hello\n')).toString()).toBe('');
    await echo.waitForStderr(
      /PROXY protocol header malformed: the connection does not start with a PROXY header/,
    );
    expect(echo.stderr()).toMatch(
      /^Exception occurred during processing of request from 127\.0\.0\.1:\d+\n/,
    );
  });

  test('--quiet: a connection without a header is closed and not reported', async () => {
    const echo = await startEcho(['0', '--proxy-protocol', '--quiet']);
    const client = await StreamClient.connect(echo.target);
    // The server closes the connection after handleError has run.
    expect((await client.end('hello\n')).toString()).toBe('');
    echo.proc.kill('SIGTERM');
    expect(await echo.exited).toEqual({ code: 0, signal: null });
    expect(echo.stderr()).toBe(
      'socketserver-echo: SIGTERM received, finishing requests in flight\n',
    );
  });
});

describe('TLS and PROXY where the handler runs (--mode threading, forking)', () => {
  for (const mode of ['threading', 'forking']) {
    test(`${mode}: TLS behind HAProxy (send-proxy-v2, TLS passed through); SIGHUP reaches the ${mode === 'threading' ? 'threads' : 'children'}`, async () => {
      const cert = join(dir, `${mode}.pem`);
      const key = join(dir, `${mode}-key.pem`);
      copyFileSync(certs.server.certFile, cert);
      copyFileSync(certs.server.keyFile, key);
      const echo = await startEcho([
        '--mode',
        mode,
        '--port',
        '0',
        '--tls-cert',
        cert,
        '--tls-key',
        key,
        '--proxy-protocol',
      ]);
      expect(echo.readyLine).toMatch(
        new RegExp(`^echo server \\(${mode}\\) listening on tls://127\\.0\\.0\\.1:\\d+`),
      );
      expect(echo.notes).toBe('PROXY protocol from 127.0.0.0/8,::1/128');
      const proxy = await startHAProxy(`
frontend fe
  bind fd@3
  default_backend be
backend be
  server echo 127.0.0.1:${(echo.target as { port: number }).port} send-proxy-v2
`);
      stops.push(() => proxy.stop());
      const first = await tlsClient(proxy.address.port);
      expect(first.getPeerCertificate().fingerprint256).toBe(certs.server.fingerprint256);
      const kept = StreamClient.over(first);
      await echoOnce(kept, 'one\n');

      copyFileSync(certs.renewed.certFile, cert);
      copyFileSync(certs.renewed.keyFile, key);
      echo.proc.kill('SIGHUP');
      await echo.waitForStderr(/SIGHUP received, certificate reloaded/);
      for (let i = 0; i < 3; i++) {
        const next = await tlsClient(proxy.address.port);
        expect(next.getPeerCertificate().fingerprint256).toBe(certs.renewed.fingerprint256);
        const client = StreamClient.over(next);
        expect((await client.end(`renewed ${i}\n`)).toString()).toBe(`renewed ${i}\n`);
      }
      expect((await kept.end('still here\n')).toString()).toBe('one\nstill here\n');

      // Straight to the server, without a header: closed, reported in one line, no handler ran.
      const direct = await StreamClient.connect(echo.target);
      expect((await direct.end('hello\n')).toString()).toBe('');
      await echo.waitForStderr(
        /PROXY protocol header malformed: the connection does not start with a PROXY header/,
      );
      echo.proc.kill('SIGTERM');
      expect(await echo.exited).toEqual({ code: 0, signal: null });
    });
  }
});

describe('sockets from systemd', () => {
  test('systemd-socket-activate, TCP: served, named in the ready line; READY=1 and STOPPING=1 reach NOTIFY_SOCKET', async () => {
    const notify = await fakeNotifySocket(join(dir, 'notify-tcp'));
    stops.push(() => notify.close());
    const port = await freePort();
    const proc = track(
      systemdSocketActivate({
        listen: [`127.0.0.1:${port}`],
        command: process.execPath,
        args: [CLI, '--port', '9'],
        env: { NOTIFY_SOCKET: notify.path },
      }),
    );
    await proc.waitForStderr(/Listening on .* as 3/);
    const client = await StreamClient.connect({ transport: 'tcp', host: '127.0.0.1', port });
    expect((await client.end('activated\n')).toString()).toBe('activated\n');
    await proc.waitForStdout(/\n/);
    expect(proc.stdout()).toBe(
      `echo server (eventloop) listening on tcp://127.0.0.1:${port} (socket from systemd, fd 3)\n`,
    );
    expect(await notify.next(/^READY=1/)).toBe(
      `READY=1|STATUS=listening on tcp://127.0.0.1:${port}`,
    );
    proc.proc.kill('SIGTERM');
    expect(await proc.exited).toEqual({ code: 0, signal: null });
    expect(notify.messages()).toEqual([
      `READY=1|STATUS=listening on tcp://127.0.0.1:${port}`,
      'STOPPING=1',
    ]);
  });

  test("systemd-socket-activate, Unix stream: the socket file stays systemd's", async () => {
    const path = join(dir, 'activated.sock');
    const proc = track(
      systemdSocketActivate({
        listen: [path],
        command: process.execPath,
        args: [CLI, '--transport', 'unix'],
      }),
    );
    await proc.waitForStderr(/Listening on .* as 3/);
    const client = await StreamClient.connect({ transport: 'unix', path });
    expect((await client.end('over unix\n')).toString()).toBe('over unix\n');
    await proc.waitForStdout(/\n/);
    expect(proc.stdout()).toBe(
      `echo server (eventloop) listening on unix://${path} (socket from systemd, fd 3)\n`,
    );
  });

  test('a harness passing a UDP socket: served, named in the ready line', async () => {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const { port } = socket.address();
    const proc = track(
      activate({
        command: process.execPath,
        args: [CLI, '--transport', 'udp'],
        sockets: [handleFd(socket)],
        names: ['echo'],
      }),
    );
    socket.close();
    await proc.waitForStdout(/\n/);
    expect(proc.stdout()).toBe(
      `echo server (eventloop) listening on udp://127.0.0.1:${port} (socket from systemd, fd 3)\n`,
    );
    expect(await dgramClient(['inet', '127.0.0.1', String(port), '100', '2000'])).toMatch(/^ok 2/);
  });

  test('a harness passing a Unix datagram socket: served, named in the ready line', async () => {
    const path = join(dir, 'activated.dgram');
    const socket = new UnixDatagramSocket();
    socket.bind(path);
    const proc = track(
      activate({
        command: process.execPath,
        args: [CLI, '--transport', 'unix-dgram'],
        sockets: [socket.fd],
      }),
    );
    socket.close();
    await proc.waitForStdout(/\n/);
    expect(proc.stdout()).toBe(
      `echo server (eventloop) listening on unix-dgram://${path} (socket from systemd, fd 3)\n`,
    );
    const client = new UnixDatagramSocket();
    try {
      client.bind(join(dir, 'client.dgram'));
      const answer = new Promise<string>((resolve) =>
        client.once('message', (data) => resolve(String(data))),
      );
      client.send('hello unix dgram', path);
      expect(await answer).toBe('hello unix dgram');
    } finally {
      client.close();
    }
  });

  test('sockets passed, but none for this transport: a usage error, exit 2', async () => {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const proc = activate({
      command: process.execPath,
      args: [CLI, '--port', '0'],
      sockets: [handleFd(socket)],
      names: ['stats'],
    });
    socket.close();
    expect(await proc.exited).toEqual({ code: 2, signal: null });
    expect(proc.stderr()).toMatch(USAGE_ERROR);
    expect(proc.stderr()).toMatch(
      /\nsocketserver-echo: error: systemd passed sockets \(stats=udp\), none of them tcp for --transport tcp\n$/,
    );
  });
});
