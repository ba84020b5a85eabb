/**
 * CPython's test_ForkingUnixStreamServer and test_ForkingUnixDatagramServer,
 * over @socketserver/transport-unix. The datagram client is Python's own
 * socket module (a Unix datagram client bound to its own path).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnixDatagramServer, UnixStreamServer } from '@socketserver/transport-unix';
import { afterAll, describe, expect, it } from 'vitest';
import { ForkingMixIn } from '../src/index.js';
import { DatagramEchoLine, EchoLine } from './fixtures/handlers.mjs';
import { ErrorLog, isAlive, serve, TEST_STR } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'forking-unix-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let seed = 0;
const pickaddr = () => join(dir, `unix_socket.${++seed}`);

class ForkingUnixStreamServer extends ForkingMixIn(UnixStreamServer) {
  readonly log = new ErrorLog();
  override handleError(_request: unknown, clientAddress: unknown, error: unknown): void {
    this.log.add(clientAddress, error);
  }
}

class ForkingUnixDatagramServer extends ForkingMixIn(UnixDatagramServer) {
  readonly log = new ErrorLog();
  override handleError(_request: unknown, clientAddress: unknown, error: unknown): void {
    this.log.add(clientAddress, error);
  }
}

async function streamExamine(path: string): Promise<string> {
  const socket = connect(path);
  socket.end(TEST_STR);
  let reply = '';
  for await (const chunk of socket) reply += chunk;
  return reply;
}

const DGRAM_CLIENT = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.settimeout(10)
s.bind(sys.argv[2])
s.sendto(b"hello world\\n", sys.argv[1])
data, sender = s.recvfrom(100)
s.close()
sys.stdout.write(repr((data.decode(), sender)))
`;

/** Python's dgram_examine, run by python3: returns `(reply, sender path)`. */
function dgramExamine(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'python3',
      ['-c', DGRAM_CLIENT, path, pickaddr()],
      { timeout: 20_000 },
      (error, stdout, stderr) =>
        error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout),
    );
  });
}

describe('CPython test_socketserver ports over Unix sockets', () => {
  it('test_ForkingUnixStreamServer: three clients; serverClose leaves no child and no socket file', async () => {
    const server = await ForkingUnixStreamServer.create(pickaddr(), EchoLine);
    const stop = serve(server);
    try {
      for (let i = 0; i < 3; i++) expect(await streamExamine(server.serverAddress)).toBe(TEST_STR);
    } finally {
      const pids = [...server.activeChildren];
      await stop();
      expect(server.activeChildren.size).toBe(0);
      for (const pid of pids) expect(isAlive(pid)).toBe(false);
    }
    expect(server.fileno()).toBe(-1);
    expect(existsSync(server.serverAddress)).toBe(false);
    expect(server.log.errors).toEqual([]);
  });

  it('test_ForkingUnixDatagramServer: the child replies from the server socket path', async () => {
    const server = await ForkingUnixDatagramServer.create(pickaddr(), DatagramEchoLine);
    const stop = serve(server);
    try {
      for (let i = 0; i < 3; i++) {
        expect(await dgramExamine(server.serverAddress)).toBe(
          `('${TEST_STR.trim()}\\n', '${server.serverAddress}')`,
        );
      }
    } finally {
      const pids = [...server.activeChildren];
      await stop();
      expect(server.activeChildren.size).toBe(0);
      for (const pid of pids) expect(isAlive(pid)).toBe(false);
    }
    expect(server.fileno()).toBe(-1);
    expect(server.log.errors).toEqual([]);
  });
});
