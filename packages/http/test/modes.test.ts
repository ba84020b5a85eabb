/**
 * BaseHTTPRequestHandler subclasses (doGET, doPOST) and
 * SimpleHTTPRequestHandler in every mode, on TCP and on Unix stream
 * sockets: the handler is written once; the server class changes.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { type BaseServer, EventLoopMixIn } from '@socketserver/core';
import { ForkingMixIn } from '@socketserver/mixin-forking';
import { ThreadingMixIn } from '@socketserver/mixin-threading';
import { TCPServer } from '@socketserver/transport-inet';
import { UnixStreamServer } from '@socketserver/transport-unix';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HTTPServer } from '../src/index.js';
import { Files, Where } from './fixtures/handlers.mjs';
import { RawClient, raw, statusOf, tempDir } from './helpers.js';

const temp = tempDir();
beforeAll(() => writeFileSync(join(temp.dir, 'hello.txt'), 'hello'));
afterAll(() => temp.cleanup());

// Python's four classes, on each transport (ThreadingHTTPServer as Python defines it).
class PlainTCP extends HTTPServer(TCPServer) {}
class EventLoopTCP extends EventLoopMixIn(HTTPServer(TCPServer)) {}
class ThreadingTCP extends ThreadingMixIn(HTTPServer(TCPServer)) {
  override daemonThreads = true;
}
class ForkingTCP extends ForkingMixIn(HTTPServer(TCPServer)) {}
class PlainUnix extends HTTPServer(UnixStreamServer) {}
class EventLoopUnix extends EventLoopMixIn(HTTPServer(UnixStreamServer)) {}
class ThreadingUnix extends ThreadingMixIn(HTTPServer(UnixStreamServer)) {
  override daemonThreads = true;
}
class ForkingUnix extends ForkingMixIn(HTTPServer(UnixStreamServer)) {}

type Mode = 'sync' | 'eventloop' | 'threading' | 'forking';
type AnyServer = BaseServer<any, any> & { handlerSettings: Record<string, unknown> };
interface ServerClass {
  create(address: unknown, Handler: unknown, settings?: object): Promise<AnyServer>;
}

const MATRIX: ReadonlyArray<readonly [string, Mode, ServerClass]> = [
  ['tcp', 'sync', PlainTCP],
  ['tcp', 'eventloop', EventLoopTCP],
  ['tcp', 'threading', ThreadingTCP],
  ['tcp', 'forking', ForkingTCP],
  ['unix', 'sync', PlainUnix],
  ['unix', 'eventloop', EventLoopUnix],
  ['unix', 'threading', ThreadingUnix],
  ['unix', 'forking', ForkingUnix],
] as unknown as ReadonlyArray<readonly [string, Mode, ServerClass]>;

let sockets = 0;

async function serve(transport: string, mode: Mode, Server: ServerClass, Handler: unknown) {
  const address =
    transport === 'tcp' ? { host: '127.0.0.1', port: 0 } : join(temp.dir, `s${sockets++}.sock`);
  // A plain server serves one connection at a time: no keep-alive there, as in Python.
  const handlerSettings = { quiet: true, directory: temp.dir, keepAlive: mode !== 'sync' };
  const server = await Server.create(address, Handler, { handlerSettings });
  const serving = server.serveForever({ pollInterval: 50 });
  const bound = server.serverAddress as { port: number } | string;
  return {
    to: typeof bound === 'string' ? bound : bound.port,
    async stop() {
      await server.shutdown();
      await serving;
      await server.serverClose();
    },
  };
}

function expectRanWhereTheModeSays(mode: Mode, where: { pid: number; threadId: number }) {
  expect(where.pid === process.pid).toBe(mode !== 'forking');
  if (mode !== 'forking') expect(where.threadId === threadId).toBe(mode !== 'threading');
}

describe.each(MATRIX)('%s, %s', (transport, mode, Server) => {
  it('doGET and doPOST (with 100-continue) on one connection', async () => {
    const running = await serve(transport, mode, Server, Where);
    try {
      const client = await RawClient.connect(running.to);
      const close = mode === 'sync' ? 'Connection: close\r\n' : '';
      client.write(`GET /where?x=1 HTTP/1.1\r\nHost: x\r\n${close}\r\n`);
      const got = await client.response();
      expect(got.status).toBe(200);
      const where = JSON.parse(got.body.toString());
      expect(where.path).toBe('/where?x=1');
      expectRanWhereTheModeSays(mode, where);
      if (mode === 'sync') {
        await client.waitClosed();
        return;
      }
      client.write('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello');
      expect(JSON.parse((await client.response()).body.toString()).echo).toBe('hello');
      client.write(
        'POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\nConnection: close\r\n\r\n',
      );
      expect((await client.response()).status).toBe(100);
      client.write('abc');
      const posted = await client.response();
      expect(JSON.parse(posted.body.toString()).echo).toBe('abc');
      expect(posted.headers.connection).toBe('close');
      await client.waitClosed();
      expect(statusOf(await raw(running.to, 'DELETE / HTTP/1.1\r\nHost: x\r\n\r\n'))).toBe(501);
    } finally {
      await running.stop();
    }
  });

  it('SimpleHTTPRequestHandler with handlerSettings, refusing traversal', async () => {
    const running = await serve(transport, mode, Server, Files);
    try {
      const reply = await raw(
        running.to,
        'GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      );
      expect(statusOf(reply)).toBe(200);
      expect(reply.toString().endsWith('\r\n\r\nhello')).toBe(true);
      expect(statusOf(await raw(running.to, 'GET /../x HTTP/1.1\r\nHost: x\r\n\r\n'))).toBe(400);
    } finally {
      await running.stop();
    }
  });
});
