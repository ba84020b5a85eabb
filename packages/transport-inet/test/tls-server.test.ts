/**
 * TLSServer with certificates made by openssl at test time: the handshake in
 * the plain and event-loop modes, the same handler as TCP, SNI, ALPN, client
 * certificates (verified, missing, from a stranger, not required), a
 * certificate reload that keeps open connections, handshake failures
 * (plaintext, timeout, no common protocol) reported and never handled, and
 * PROXY before TLS. One test uses `openssl s_client` as the client.
 */
import { spawn } from 'node:child_process';
import { connect as netConnect, type Socket } from 'node:net';
import { type ConnectionOptions, connect, type TLSSocket } from 'node:tls';
import {
  EventLoopMixIn,
  type InetAddress,
  InvalidArgumentError,
  StreamRequestHandler,
  type TLSSettings,
} from '@socketserver/core';
import { makeCertificates, type TestCertificates } from '@socketserver/test-deploy';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { TLSServer } from '../src/index.js';
import { deferred } from './helpers.js';

let certs: TestCertificates;
beforeAll(() => {
  certs = makeCertificates();
});
afterAll(() => certs.remove());

/**
 * Echoes lines; the line `info` is answered with what the handler knows
 * about its connection, as JSON.
 */
class InfoEchoHandler extends StreamRequestHandler {
  override async handle(): Promise<void> {
    for await (const line of this.rfile) {
      if (line.toString() !== 'info\n') {
        await this.wfile.write(line);
        continue;
      }
      const socket = this.request as TLSSocket;
      const peer = socket.getPeerCertificate?.();
      await this.wfile.write(
        `${JSON.stringify({
          clientAddress: this.clientAddress,
          encrypted: socket.encrypted === true,
          authorized: socket.authorized,
          authorizationError: socket.authorizationError ?? null,
          peerCN: peer?.subject?.CN ?? null,
          alpn: socket.alpnProtocol ?? null,
          servername: socket.servername ?? null,
          proxy: this.proxyHeader?.version ?? null,
        })}\n`,
      );
    }
  }
}

/** Records errors instead of printing them. */
function recording<T extends abstract new (...args: any[]) => TLSServer>(Base: T) {
  abstract class Recording extends Base {
    errors: unknown[] = [];
    #waiters: Array<() => void> = [];
    override handleError(_request: unknown, _address: unknown, error: unknown) {
      this.errors.push(error);
      for (const wake of this.#waiters.splice(0)) wake();
    }
    async errorCount(n: number): Promise<void> {
      while (this.errors.length < n) await new Promise<void>((r) => this.#waiters.push(r));
    }
  }
  return Recording;
}
class PlainTLS extends recording(TLSServer) {}
class EventLoopTLS extends recording(EventLoopMixIn(TLSServer)) {}
type AnyTLS = PlainTLS | EventLoopTLS;

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

async function start(
  Server: typeof PlainTLS | typeof EventLoopTLS = EventLoopTLS,
  tls: Partial<TLSSettings> = {},
  settings: Record<string, unknown> = {},
): Promise<AnyTLS> {
  const server = (await (Server as typeof PlainTLS).create(
    { host: '127.0.0.1', port: 0 },
    InfoEchoHandler as never,
    { tls: { cert: certs.server.cert, key: certs.server.key, ...tls }, ...settings } as never,
  )) as AnyTLS;
  const loop = server.serveForever({ pollInterval: 20 });
  stops.push(async () => {
    await server.shutdown();
    await loop;
    await server.serverClose();
  });
  return server;
}

/** A TLS client that trusts the test CA. */
function tlsClient(address: InetAddress, options: ConnectionOptions = {}): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: address.host,
      port: address.port,
      ca: certs.ca.cert,
      servername: 'localhost',
      ...options,
    });
    socket.once('secureConnect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Sends a line and reads one line back. */
function ask(socket: Socket, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const onData = (chunk: Buffer) => {
      got += chunk.toString();
      if (!got.endsWith('\n')) return;
      socket.off('data', onData);
      resolve(got);
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(line);
  });
}

/** Waits, turn by turn of the event loop (at most 100 000), until `condition` holds. */
async function until(condition: () => boolean): Promise<void> {
  for (let turn = 0; !condition(); turn++) {
    if (turn > 100_000) throw new Error('condition never held');
    await new Promise((resolve) => setImmediate(resolve));
  }
}

async function info(socket: Socket): Promise<Record<string, any>> {
  return JSON.parse(await ask(socket, 'info\n'));
}

/** Ends the client and collects what arrives until the server's end. */
function endAndCollect(socket: Socket, last?: string): Promise<string> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  return new Promise((resolve, reject) => {
    socket.once('end', () => resolve(Buffer.concat(chunks).toString()));
    socket.once('error', reject);
    if (last === undefined) socket.end();
    else socket.end(last);
  });
}

describe.each([
  ['TLSServer (plain)', PlainTLS],
  ['EventLoopMixIn(TLSServer)', EventLoopTLS],
])('%s', (_name, Server) => {
  test('handshake, echo, and a last line without newline answered after end of stream', async () => {
    const server = await start(Server);
    const client = await tlsClient(server.serverAddress);
    expect(client.getPeerCertificate().fingerprint256).toBe(certs.server.fingerprint256);
    expect(await ask(client, 'hello\n')).toBe('hello\n');
    expect(await info(client)).toMatchObject({
      encrypted: true,
      clientAddress: { host: '127.0.0.1', port: client.localPort, family: 'IPv4' },
      peerCN: null,
      proxy: null,
    });
    expect(await endAndCollect(client, 'bye')).toBe('bye');
    expect(server.errors).toEqual([]);
  });
});

describe('TLSServer', () => {
  test('many concurrent handshakes on the event loop', async () => {
    const server = await start(EventLoopTLS);
    const clients = await Promise.all(
      Array.from({ length: 20 }, () => tlsClient(server.serverAddress)),
    );
    const replies = await Promise.all(clients.map((client, i) => ask(client, `n${i}\n`)));
    expect(replies).toEqual(clients.map((_, i) => `n${i}\n`));
    await Promise.all(clients.map((client) => endAndCollect(client)));
  });

  test('SNI: a configured name gets its certificate (wildcards too); others the default', async () => {
    const server = await start(EventLoopTLS, {
      sni: {
        'other.test': { cert: certs.other.cert, key: certs.other.key },
        '*.wild.test': { cert: certs.other.cert, key: certs.other.key },
      },
    });
    for (const [servername, expected] of [
      ['other.test', certs.other.fingerprint256],
      ['a.wild.test', certs.other.fingerprint256],
      ['localhost', certs.server.fingerprint256],
      ['unknown.test', certs.server.fingerprint256],
    ] as const) {
      const client = await tlsClient(server.serverAddress, {
        servername,
        checkServerIdentity: () => undefined,
      });
      expect(client.getPeerCertificate().fingerprint256, servername).toBe(expected);
      expect((await info(client)).servername).toBe(servername);
      await endAndCollect(client);
    }
  });

  test('ALPN: the agreed protocol is visible to the handler; no common one fails the handshake', async () => {
    const server = await start(EventLoopTLS, { ALPNProtocols: ['echo/1', 'http/1.1'] });
    const client = await tlsClient(server.serverAddress, { ALPNProtocols: ['x', 'echo/1'] });
    expect(client.alpnProtocol).toBe('echo/1');
    expect((await info(client)).alpn).toBe('echo/1');
    await endAndCollect(client);
    await expect(tlsClient(server.serverAddress, { ALPNProtocols: ['h2'] })).rejects.toThrow();
    await server.errorCount(1);
    expect(server.errors[0]).toMatchObject({
      code: 'ERR_SOCKETSERVER_TLS_HANDSHAKE',
      cause: { code: 'ERR_SSL_NO_APPLICATION_PROTOCOL' },
    });
  });

  test('client certificates: verified ones reach the handler; missing and unverifiable ones do not', async () => {
    const server = await start(EventLoopTLS, { requestCert: true, ca: certs.ca.cert });
    const client = await tlsClient(server.serverAddress, {
      cert: certs.client.cert,
      key: certs.client.key,
    });
    expect(await info(client)).toMatchObject({ authorized: true, peerCN: 'client.test' });
    await endAndCollect(client);

    for (const options of [{}, { cert: certs.stranger.cert, key: certs.stranger.key }]) {
      // TLS 1.3: the client learns it was refused on its first read.
      const refused = await tlsClient(server.serverAddress, options)
        .then((socket) => endAndCollect(socket, 'info\n'))
        .then(
          (reply) => `answered: ${reply}`,
          (error: Error) => `refused: ${error.message}`,
        );
      expect(refused).not.toMatch(/^answered: \{/);
    }
    await server.errorCount(2);
    expect(server.errors.map((e: any) => e.code)).toEqual([
      'ERR_SOCKETSERVER_TLS_HANDSHAKE',
      'ERR_SOCKETSERVER_TLS_HANDSHAKE',
    ]);
  });

  test('requestCert without rejectUnauthorized: the handler decides, with authorized and authorizationError', async () => {
    const server = await start(EventLoopTLS, {
      requestCert: true,
      rejectUnauthorized: false,
      ca: certs.ca.cert,
    });
    const stranger = await tlsClient(server.serverAddress, {
      cert: certs.stranger.cert,
      key: certs.stranger.key,
    });
    expect(await info(stranger)).toMatchObject({
      authorized: false,
      authorizationError: 'DEPTH_ZERO_SELF_SIGNED_CERT',
      peerCN: 'stranger.test',
    });
    await endAndCollect(stranger);
  });

  test('setTLSSettings: new connections get the new certificate, open ones keep working', async () => {
    const server = await start(EventLoopTLS);
    const before = await tlsClient(server.serverAddress);
    expect(await ask(before, 'one\n')).toBe('one\n');
    server.setTLSSettings({ cert: certs.renewed.cert, key: certs.renewed.key });
    const after = await tlsClient(server.serverAddress);
    expect(after.getPeerCertificate().fingerprint256).toBe(certs.renewed.fingerprint256);
    expect(await ask(before, 'two\n')).toBe('two\n');
    expect(await ask(after, 'three\n')).toBe('three\n');
    expect(() => server.setTLSSettings({ cert: certs.renewed.cert, key: certs.other.key })).toThrow(
      InvalidArgumentError,
    );
    const still = await tlsClient(server.serverAddress);
    expect(still.getPeerCertificate().fingerprint256).toBe(certs.renewed.fingerprint256);
    await Promise.all([before, after, still].map((client) => endAndCollect(client)));
  });

  test('a plaintext client and a silent one are closed and reported; a client that leaves at once is not', async () => {
    const server = await start(EventLoopTLS, { handshakeTimeout: 200 });
    const plain = netConnect(server.serverAddress.port, '127.0.0.1');
    const plainClosed = deferred();
    plain.on('close', () => plainClosed.resolve());
    plain.on('error', () => {});
    plain.write('hello\n');
    const silent = netConnect(server.serverAddress.port, '127.0.0.1');
    const silentClosed = deferred();
    silent.on('close', () => silentClosed.resolve());
    silent.on('error', () => {});
    const leaver = netConnect(server.serverAddress.port, '127.0.0.1', () => leaver.destroy());
    await Promise.all([plainClosed.promise, silentClosed.promise]);
    await server.errorCount(2);
    // Every connection closed on the server's side too, so each was settled (the leaver silently).
    await until(() => server.openConnections === 0);
    const causes = server.errors.map((e: any) => e.cause?.code).sort();
    expect(causes).toEqual(['ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_TLS_HANDSHAKE_TIMEOUT'].sort());
    const client = await tlsClient(server.serverAddress);
    expect(await ask(client, 'x\n')).toBe('x\n');
    await endAndCollect(client);
    expect(server.errors).toHaveLength(2);
  });

  test('with proxyProtocol: the PROXY header first, in cleartext, then TLS', async () => {
    const server = await start(EventLoopTLS, {}, { proxyProtocol: true });
    const raw = netConnect(server.serverAddress.port, '127.0.0.1');
    await new Promise((resolve) => raw.once('connect', resolve));
    raw.write('PROXY TCP4 198.51.100.20 192.0.2.1 61000 443\r\n');
    const client = await tlsClient(server.serverAddress, { socket: raw });
    expect(await info(client)).toMatchObject({
      clientAddress: { host: '198.51.100.20', port: 61000, family: 'IPv4' },
      proxy: 1,
      encrypted: true,
    });
    await endAndCollect(client);
  });

  test('settings are checked when the server binds', async () => {
    await expect(
      TLSServer.create({ host: '127.0.0.1', port: 0 }, InfoEchoHandler as never),
    ).rejects.toThrow(/needs its certificate and key/);
    await expect(
      TLSServer.create({ host: '127.0.0.1', port: 0 }, InfoEchoHandler as never, {
        tls: { cert: certs.server.cert },
      }),
    ).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(
      TLSServer.create({ host: '127.0.0.1', port: 0 }, InfoEchoHandler as never, {
        tls: { cert: certs.server.cert, key: certs.other.key },
      }),
    ).rejects.toThrow(/rejected by OpenSSL/);
  });

  test('openssl s_client as the client', async () => {
    const server = await start(EventLoopTLS, { ALPNProtocols: ['echo/1'] });
    const client = spawn(
      'openssl',
      [
        's_client',
        '-connect',
        `127.0.0.1:${server.serverAddress.port}`,
        '-servername',
        'localhost',
        '-CAfile',
        certs.ca.certFile,
        '-verify_return_error',
        '-alpn',
        'echo/1',
        '-quiet',
        '-no_ign_eof',
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let out = '';
    const answered = deferred();
    client.stdout.setEncoding('utf8').on('data', (text: string) => {
      out += text;
      if (out.split('\n').length > 2) answered.resolve();
    });
    const exited = new Promise<number | null>((resolve) => client.once('close', resolve));
    client.stdin.write('through openssl\ninfo\n');
    await answered.promise;
    client.stdin.end();
    expect(await exited).toBe(0);
    const [echoed, json] = out.split('\n');
    expect(echoed).toBe('through openssl');
    expect(JSON.parse(json!)).toMatchObject({
      encrypted: true,
      alpn: 'echo/1',
      servername: 'localhost',
    });
  });
});
