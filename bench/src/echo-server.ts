/**
 * An echo server in its own process:
 * `node echo-server.js <kind> [--path socket-path] [--settings json] [--handler cpu] [--tls-dir dir]`.
 * Kinds are `<tcp|tls|udp|unix|unixdgram>-<raw|plain|evloop|threading|forking>`: `raw`
 * is node:net/node:tls/node:dgram at its simplest (the limit inside Node), the
 * others are @socketserver servers running `handlers.js` (the echo, or with
 * `--handler cpu` the CPU-bound echo), created with
 * `Server.create(address, Handler, settings)`. `tls` kinds serve the
 * certificate and key in `--tls-dir` (`cert.pem`, `key.pem`).
 *
 * Prints `READY {json}` once listening, or `UNAVAILABLE <reason>` and exits
 * 3 when a package it needs is missing or not built. Reads commands on
 * stdin (`gc`: collect garbage, answer `GC`; `conns`: answer `CONNS n`;
 * `mem`: answer `MEM {process.memoryUsage()}`) and
 * exits when stdin closes, so it never outlives the benchmark.
 *
 * @module
 */
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createServer as createTLSServer } from 'node:tls';
import { parseArgs } from 'node:util';
import type { UnixDatagramSocket } from '@socketserver/transport-unix';
import type { NodeKind, ReadyLine } from './targets.js';
import { createUnixDgramSocket } from './unix-dgram.js';

/** A package that is not installed or not built. */
class Unavailable extends Error {}

/** Imports a workspace package the bench depends on; a package not built is unavailable. */
async function importPackage(dir: string): Promise<Record<string, any>> {
  const name = `@socketserver/${dir}`;
  try {
    return await import(name);
  } catch (error) {
    throw new Unavailable(`${name} failed to load: ${(error as Error).message.split('\n')[0]}`);
  }
}

function exportOf(module: Record<string, any>, dir: string, name: string): any {
  const value = module[name];
  if (typeof value !== 'function') throw new Unavailable(`@socketserver/${dir} has no ${name}`);
  return value;
}

interface Running {
  ready: ReadyLine;
  connections(): number | Promise<number>;
}

/** The certificate and key of `tls` kinds. */
function tlsIdentity(dir: string | undefined): { cert: Buffer; key: Buffer } {
  if (dir === undefined) throw new Error('a tls kind needs --tls-dir');
  return { cert: readFileSync(join(dir, 'cert.pem')), key: readFileSync(join(dir, 'key.pem')) };
}

async function rawServer(
  transport: string,
  path: string | undefined,
  tlsDir: string | undefined,
): Promise<Running> {
  if (transport === 'unixdgram') {
    let socket: UnixDatagramSocket;
    try {
      socket = createUnixDgramSocket();
    } catch (error) {
      throw new Unavailable(
        `the Unix datagram addon failed to load: ${(error as Error).message.split('\n')[0]}`,
      );
    }
    socket.on('message', (message, sender) => {
      try {
        if (sender !== '') socket.send(message, sender);
      } catch {
        // A client gone or full: as the raw baseline, drop the reply.
      }
    });
    socket.on('error', () => {});
    socket.bind(path!);
    return { ready: { pid: process.pid, path: path! }, connections: () => 0 };
  }
  if (transport === 'udp') {
    const socket = createSocket('udp4');
    socket.on('message', (message, peer) => socket.send(message, peer.port, peer.address));
    socket.on('error', () => {});
    await new Promise<void>((done) => socket.bind(0, '127.0.0.1', done));
    return {
      ready: { pid: process.pid, host: '127.0.0.1', port: socket.address().port },
      connections: () => 0,
    };
  }
  const echo = (socket: Socket) => {
    socket.on('data', (chunk) => socket.write(chunk));
    socket.on('error', () => {});
  };
  const server: Server =
    transport === 'tls' ? createTLSServer(tlsIdentity(tlsDir), echo) : createServer(echo);
  if (transport === 'tls') server.on('tlsClientError', () => {});
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    if (transport === 'unix') server.listen(path!, done);
    else server.listen(0, '127.0.0.1', done);
  });
  const address = server.address();
  return {
    ready:
      typeof address === 'object' && address !== null
        ? { pid: process.pid, host: '127.0.0.1', port: address.port }
        : { pid: process.pid, path: path! },
    connections: () =>
      new Promise((done) => server.getConnections((_error, count) => done(count ?? -1))),
  };
}

async function socketServer(
  transport: string,
  mode: string,
  path: string | undefined,
  settings: Record<string, unknown>,
  cpu: boolean,
): Promise<Running> {
  const core = await importPackage('core');
  const handlers = await import(new URL('./handlers.js', import.meta.url).href);
  let Base: any;
  if (transport === 'unix' || transport === 'unixdgram') {
    const unix = await importPackage('transport-unix');
    Base = exportOf(
      unix,
      'transport-unix',
      transport === 'unix' ? 'UnixStreamServer' : 'UnixDatagramServer',
    );
  } else {
    const inet = await importPackage('transport-inet');
    const name = { udp: 'UDPServer', tls: 'TLSServer' }[transport] ?? 'TCPServer';
    Base = exportOf(inet, 'transport-inet', name);
  }
  let Server: any = Base;
  if (mode === 'evloop') Server = exportOf(core, 'core', 'EventLoopMixIn')(Base);
  if (mode === 'threading') {
    Server = exportOf(
      await importPackage('mixin-threading'),
      'mixin-threading',
      'ThreadingMixIn',
    )(Base);
  }
  if (mode === 'forking') {
    Server = exportOf(await importPackage('mixin-forking'), 'mixin-forking', 'ForkingMixIn')(Base);
  }
  const datagram = transport === 'udp' || transport === 'unixdgram';
  const Handler = datagram
    ? handlers.EchoDatagramHandler
    : cpu
      ? handlers.CpuEchoHandler
      : handlers.EchoStreamHandler;
  const address = transport.startsWith('unix') ? path! : { host: '127.0.0.1', port: 0 };
  const server = await Server.create(address, Handler, settings);
  void server.serveForever().catch((error: unknown) => {
    process.stderr.write(`serveForever failed: ${String(error)}\n`);
    process.exit(1);
  });
  const bound = server.serverAddress;
  return {
    ready:
      typeof bound === 'string'
        ? { pid: process.pid, path: bound }
        : { pid: process.pid, host: bound.host, port: bound.port },
    connections: () => (typeof server.openConnections === 'number' ? server.openConnections : -1),
  };
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      path: { type: 'string' },
      settings: { type: 'string' },
      handler: { type: 'string' },
      'tls-dir': { type: 'string' },
    },
  });
  const tlsDir = values['tls-dir'];
  const kind = positionals[0] as NodeKind | undefined;
  const path = values.path;
  const settings = JSON.parse(values.settings ?? '{}') as Record<string, unknown>;
  const [transport, mode] = (kind ?? '').split('-') as [string, string];
  if (!['tcp', 'tls', 'udp', 'unix', 'unixdgram'].includes(transport) || mode === undefined) {
    process.stderr.write(
      'usage: node echo-server.js <tcp|tls|udp|unix|unixdgram>-<raw|plain|evloop|threading|forking> [--path p] [--settings json] [--tls-dir dir]\n',
    );
    process.exit(2);
  }
  if (transport.startsWith('unix') && path === undefined) {
    process.stderr.write('echo-server: a unix kind needs --path\n');
    process.exit(2);
  }
  let running: Running;
  try {
    running =
      mode === 'raw'
        ? await rawServer(transport, path, tlsDir)
        : await socketServer(
            transport,
            mode,
            path,
            { ...settings, ...(transport === 'tls' ? { tls: tlsIdentity(tlsDir) } : {}) },
            values.handler === 'cpu',
          );
  } catch (error) {
    if (error instanceof Unavailable) {
      process.stdout.write(`UNAVAILABLE ${error.message}\n`);
      process.exit(3);
    }
    throw error;
  }
  process.stdout.write(`READY ${JSON.stringify(running.ready)}\n`);
  const commands = createInterface({ input: process.stdin });
  commands.on('line', async (line) => {
    const command = line.trim();
    if (command === 'gc') {
      const gc = (globalThis as { gc?: () => void }).gc;
      gc?.();
      gc?.();
      process.stdout.write(gc ? 'GC\n' : 'GC unavailable\n');
    } else if (command === 'mem') {
      process.stdout.write(`MEM ${JSON.stringify(process.memoryUsage())}\n`);
    } else if (command === 'conns') {
      process.stdout.write(`CONNS ${await running.connections()}\n`);
    }
  });
  // The benchmark closed our stdin (or died): stop at once.
  commands.on('close', () => process.exit(0));
}

main().catch((error) => {
  process.stderr.write(`echo-server: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
