import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnixDatagramServer, UnixStreamServer } from '@socketserver/transport-unix';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ThreadingMixIn } from '../src/threading-mixin.js';
import { DatagramEcho, EchoLine } from './fixtures/handlers.mjs';
import { serve } from './helpers.js';

const TEST_STR = 'hello world\n';

class ThreadingUnixStreamServer extends ThreadingMixIn(UnixStreamServer) {}
class ThreadingUnixDatagramServer extends ThreadingMixIn(UnixDatagramServer) {}

let dir = '';
const cleanups: Array<() => Promise<void>> = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ssmt-'));
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await rm(dir, { recursive: true, force: true });
});

function streamExamine(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ path });
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      received += chunk;
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(received));
    socket.write(TEST_STR);
  });
}

/** CPython's dgram_examine, run by Python itself: a client bound to its own path. */
function dgramExamine(serverPath: string, clientPath: string): Promise<string> {
  const script = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.settimeout(15)
s.bind(sys.argv[2])
s.sendto(sys.argv[3].encode(), sys.argv[1])
data, addr = s.recvfrom(100)
s.close()
sys.stdout.write(data.decode() + '|' + addr)
`;
  return new Promise((resolve, reject) => {
    execFile(
      'python3',
      ['-c', script, serverPath, clientPath, TEST_STR],
      { timeout: 20_000 },
      (error, stdout, stderr) =>
        error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout),
    );
  });
}

describe('ThreadingMixIn over Unix sockets (CPython SocketServerTest)', () => {
  it('test_ThreadingUnixStreamServer', async () => {
    const server = await ThreadingUnixStreamServer.create(join(dir, 'stream.sock'), EchoLine);
    const stop = serve(server);
    cleanups.push(stop);
    for (let i = 0; i < 3; i++) expect(await streamExamine(server.serverAddress)).toBe(TEST_STR);
    await stop();
    expect(server.fileno()).toBe(-1);
    expect(server.activeThreads).toBe(0);
  });

  it('test_ThreadingUnixDatagramServer: replies leave from the server socket', async () => {
    const server = await ThreadingUnixDatagramServer.create(join(dir, 'dgram.sock'), DatagramEcho);
    const stop = serve(server);
    cleanups.push(stop);
    for (let i = 0; i < 3; i++) {
      const reply = await dgramExamine(server.serverAddress, join(dir, `client-${i}.sock`));
      expect(reply).toBe(`${TEST_STR}|${server.serverAddress}`);
    }
    await stop();
    expect(server.fileno()).toBe(-1);
    expect(server.activeThreads).toBe(0);
  });
});
