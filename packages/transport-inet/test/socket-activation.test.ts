/**
 * Socket activation of TCPServer and UDPServer: started by
 * `systemd-socket-activate` (which binds the address itself and starts the
 * server on the first connection or datagram), and by a harness that passes
 * a socket made here as descriptor 3. The server serves the inherited
 * socket: its serverAddress is that socket's, the first client is answered.
 */
import { createSocket } from 'node:dgram';
import { connect, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { handleFd } from '@socketserver/core';
import { activate, freePort, systemdSocketActivate, type Watched } from '@socketserver/test-deploy';
import { afterEach, describe, expect, test } from 'vitest';

const FIXTURE = fileURLToPath(new URL('./fixtures/activated-echo.mjs', import.meta.url));

const running: Watched[] = [];
afterEach(async () => {
  for (const proc of running.splice(0)) await proc.stop();
});

function track(proc: Watched): Watched {
  running.push(proc);
  return proc;
}

async function ready(proc: Watched): Promise<{ address: any; fd: number; name: string }> {
  const [, json] = await proc.waitForStdout(/^ready (.*)\n/m);
  return JSON.parse(json!);
}

/** Sends a line over TCP and returns the answer line. */
function askTCP(port: number, line: string): Promise<{ answer: string; localPort: number }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let got = '';
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      got += text;
      if (!got.endsWith('\n')) return;
      const localPort = socket.localPort!;
      socket.end();
      resolve({ answer: got, localPort });
    });
    socket.once('error', reject);
    socket.write(line);
  });
}

/** Sends one datagram from a fresh socket and returns the answer. */
async function askUDP(port: number, text: string): Promise<{ answer: string; localPort: number }> {
  const socket = createSocket('udp4');
  try {
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const answer = new Promise<string>((resolve) =>
      socket.once('message', (data) => resolve(data.toString())),
    );
    socket.send(text, port, '127.0.0.1');
    return { answer: await answer, localPort: socket.address().port };
  } finally {
    socket.close();
  }
}

describe('systemd-socket-activate', () => {
  test('TCP: started on the first connection, which it answers, with its name', async () => {
    const port = await freePort();
    const proc = track(
      systemdSocketActivate({
        listen: [`127.0.0.1:${port}`],
        fdnames: ['echo'],
        command: process.execPath,
        args: [FIXTURE, 'tcp', 'echo'],
      }),
    );
    await proc.waitForStderr(/Listening on 127\.0\.0\.1:\d+ as 3/);
    const { answer, localPort } = await askTCP(port, 'first\n');
    expect(answer).toBe(
      `${JSON.stringify({ host: '127.0.0.1', port: localPort, family: 'IPv4' })} first\n`,
    );
    expect(await ready(proc)).toEqual({
      address: { host: '127.0.0.1', port, family: 'IPv4' },
      fd: 3,
      name: 'echo',
    });
    expect((await askTCP(port, 'second\n')).answer).toMatch(/ second\n$/);
    expect(await proc.stop()).toEqual({ code: 0, signal: null });
  });

  test('UDP (--datagram): started by the first datagram, which it answers', async () => {
    const port = await freePort();
    const proc = track(
      systemdSocketActivate({
        listen: [`127.0.0.1:${port}`],
        datagram: true,
        command: process.execPath,
        args: [FIXTURE, 'udp'],
      }),
    );
    await proc.waitForStderr(/Listening on 127\.0\.0\.1:\d+ as 3/);
    const { answer, localPort } = await askUDP(port, 'ping');
    expect(answer).toBe(
      `${JSON.stringify({ host: '127.0.0.1', port: localPort, family: 'IPv4' })} ping`,
    );
    expect(await ready(proc)).toMatchObject({
      address: { host: '127.0.0.1', port },
      fd: 3,
      name: 'unknown',
    });
  });
});

describe('a harness that passes the socket as fd 3', () => {
  test('UDP: a socket bound here, served there', async () => {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const { port } = socket.address();
    const proc = track(
      activate({
        command: process.execPath,
        args: [FIXTURE, 'udp'],
        sockets: [handleFd(socket)],
        names: ['stats'],
      }),
    );
    // The child has its copy now; this one must not read the datagrams.
    socket.close();
    expect(await ready(proc)).toEqual({
      address: { host: '127.0.0.1', port, family: 'IPv4' },
      fd: 3,
      name: 'stats',
    });
    const { answer, localPort } = await askUDP(port, 'over fd 3');
    expect(answer).toBe(
      `${JSON.stringify({ host: '127.0.0.1', port: localPort, family: 'IPv4' })} over fd 3`,
    );
  });

  test('a socket of the wrong kind is refused with a clear error', async () => {
    const listener = createServer();
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    const proc = track(
      activate({
        command: process.execPath,
        args: [FIXTURE, 'udp', 'web'],
        sockets: [handleFd(listener)],
        names: ['web'],
      }),
    );
    await new Promise((resolve) => listener.close(resolve));
    await proc.waitForStdout(/^error /m);
    expect(proc.stdout()).toMatch(
      /^error ERR_SOCKETSERVER_SOCKET_ACTIVATION the inherited socket "web" \(fd 3\) is tcp, not udp/,
    );
    expect((await proc.exited).code).toBe(1);
  });
});
