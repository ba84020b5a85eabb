/**
 * TLS and the PROXY protocol where the handler runs: in a worker thread or a
 * child process, the connection's PROXY header is read and its TLS
 * handshake run by the host (or, for a connection bridged to a thread, by
 * the server before it is queued), and the handler sees the same things as
 * on the event loop: the client address, the header with its TLVs, the TLS
 * facts and the client's certificate. Refused connections never reach a
 * handler and go to `handleError`; a new certificate reaches every host.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { threadId } from 'node:worker_threads';
import { makeCertificates, type TestCertificates } from '@socketserver/test-deploy';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { processDriver, threadDriver } from '../../src/host/index.js';
import { canMoveSockets } from '../../src/node-internals.js';
import { ProxyProtocolError } from '../../src/proxy-protocol.js';
import { TLSHandshakeError, TLSLayer, type TLSSettings } from '../../src/tls-layer.js';
import type { InetAddress } from '../../src/types.js';
import { v2 } from '../proxy-headers.js';
import { Whois } from './fixtures/handlers.mjs';
import { HOST, hosted, LoopbackTCPServer, PathStreamServer, serve, until } from './helpers.js';

let certs: TestCertificates;
beforeAll(() => {
  certs = makeCertificates();
});
afterAll(() => certs?.remove());

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface WhoisReply {
  pid: number;
  threadId: number;
  request: string;
  clientAddress: unknown;
  encrypted: boolean;
  authorized: boolean;
  alpn: string | false | null;
  servername: string | false | null;
  protocol: string | null;
  peerCN: string | null;
  peerRawIsBuffer: boolean | null;
  proxy: {
    version: number;
    source: unknown;
    authority: string | null;
    uniqueId: string | null;
    tlvBuffers: boolean;
  } | null;
}

/** Reads one line from a socket already connected (after `write`). */
function firstLine(socket: Socket, write: Buffer | string): Promise<string | null> {
  return new Promise((resolve) => {
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
      const at = text.indexOf('\n');
      if (at >= 0) resolve(text.slice(0, at));
    });
    socket.on('error', () => resolve(null));
    socket.on('close', () => resolve(null));
    socket.write(write);
  });
}

function tcp(address: InetAddress | string): Promise<Socket> {
  const socket =
    typeof address === 'string' ? netConnect(address) : netConnect(address.port, address.host);
  return new Promise((resolve, reject) =>
    socket.once('connect', () => resolve(socket)).once('error', reject),
  );
}

function secure(
  address: InetAddress,
  options: { cert?: string; key?: string; ALPNProtocols?: string[]; socket?: Socket } = {},
): Promise<TLSSocket> {
  const socket = tlsConnect({
    host: address.host,
    port: address.port,
    ca: certs.ca.cert,
    servername: 'localhost',
    ...options,
  });
  return new Promise((resolve, reject) =>
    socket.once('secureConnect', () => resolve(socket)).once('error', reject),
  );
}

async function whois(socket: Socket, prefix: Buffer = Buffer.alloc(0)): Promise<WhoisReply> {
  cleanups.push(() => socket.destroy());
  const line = await firstLine(socket, Buffer.concat([prefix, Buffer.from('who\n')]));
  if (line === null) throw new Error('the connection closed without a reply');
  return JSON.parse(line) as WhoisReply;
}

/** Whether the connection was closed without a reply. */
async function refused(socket: Socket, bytes: Buffer | string): Promise<boolean> {
  cleanups.push(() => socket.destroy());
  return (await firstLine(socket, bytes)) === null;
}

for (const driver of [threadDriver, processDriver]) {
  const kind = driver.kind;
  // Where a thread's TCP connection is prepared: in the worker when it can move there.
  const tcpPreparedIn = kind === 'process' || canMoveSockets() ? 'host' : 'server';

  class TLSTCP extends hosted(LoopbackTCPServer, driver) {
    layer = new TLSLayer(tlsSettings());
    protected override tlsLayer(): TLSLayer {
      return this.layer;
    }
    /** A new certificate, as `TLSServer.setTLSSettings` installs it. */
    renew(settings: TLSSettings): void {
      this.layer = new TLSLayer(settings);
      this.connectionSetupChanged();
    }
  }
  class TCP extends hosted(LoopbackTCPServer, driver) {}
  class Unix extends hosted(PathStreamServer, driver) {}

  function tlsSettings(identity = certs.server): TLSSettings {
    return {
      // A Buffer (arrives in hosts as a Uint8Array) and a string.
      cert: Buffer.from(identity.cert),
      key: identity.key,
      ca: certs.ca.cert,
      requestCert: true,
      rejectUnauthorized: false,
      ALPNProtocols: ['h2', 'echo'],
    };
  }

  async function start<S extends { serveForever: never } | object>(server: S): Promise<S> {
    cleanups.push(serve(server as never));
    return server;
  }

  describe(`${kind} hosts (TCP prepared in the ${tcpPreparedIn})`, () => {
    it('TLS: the handler runs in a host and sees the TLS facts and the client certificate', async () => {
      const server = await start(
        await TLSTCP.create({ host: HOST, port: 0, family: 'IPv4' as const }, Whois),
      );
      const socket = await secure(server.serverAddress, {
        cert: certs.client.cert,
        key: certs.client.key,
        ALPNProtocols: ['echo'],
      });
      const info = await whois(socket);
      expect(kind === 'thread' ? info.threadId : info.pid).not.toBe(
        kind === 'thread' ? threadId : process.pid,
      );
      expect(info).toMatchObject({
        encrypted: true,
        authorized: true,
        alpn: 'echo',
        servername: 'localhost',
        protocol: 'TLSv1.3',
        peerCN: 'client.test',
        peerRawIsBuffer: true,
        proxy: null,
        clientAddress: { host: HOST, port: socket.localPort },
      });
      expect(info.request).toBe(tcpPreparedIn === 'host' ? 'TLSSocket' : 'BridgedSocket');
    });

    it('TLS: a failed handshake is reported and reaches no handler; a silent probe is not reported', async () => {
      const server = await start(
        await TLSTCP.create({ host: HOST, port: 0, family: 'IPv4' as const }, Whois),
      );
      expect(await refused(await tcp(server.serverAddress), 'GET / HTTP/1.0\r\n\r\n')).toBe(true);
      await until(() => server.errors.length === 1);
      expect(server.errors[0]).toBeInstanceOf(TLSHandshakeError);
      (await tcp(server.serverAddress)).end();
      // A good connection after both: the server and its hosts go on.
      const info = await whois(await secure(server.serverAddress));
      expect(info).toMatchObject({ encrypted: true, authorized: false, peerCN: null });
      expect(server.errors).toHaveLength(1);
    });

    it('TLS: a new certificate reaches every host; a connection already secured keeps going', async () => {
      const server = await start(
        await TLSTCP.create({ host: HOST, port: 0, family: 'IPv4' as const }, Whois),
      );
      const before = await secure(server.serverAddress);
      await whois(before);
      expect(before.getPeerCertificate().fingerprint256).toBe(certs.server.fingerprint256);
      server.renew(tlsSettings(certs.renewed));
      // Hosts hear it before their next request (ready ones now, starting ones once ready).
      for (let i = 0; i < 4; i++) {
        const after = await secure(server.serverAddress);
        await whois(after);
        expect(after.getPeerCertificate().fingerprint256).toBe(certs.renewed.fingerprint256);
      }
      const still = await firstLine(before, 'again\n');
      expect(still).toContain('"encrypted":true');
    });

    it('PROXY v2 on TCP: clientAddress is the original client; TLVs reach the handler as Buffers', async () => {
      const server = await start(
        await TCP.create({ host: HOST, port: 0, family: 'IPv4' as const }, Whois, {
          proxyProtocol: true,
        }),
      );
      const header = v2({
        source: ['203.0.113.7', 40_000],
        destination: ['192.0.2.1', 443],
        tlvs: [
          { type: 0x02, value: 'example.test' },
          { type: 0x05, value: Buffer.from('0a0b0c', 'hex') },
        ],
      });
      const info = await whois(await tcp(server.serverAddress), header);
      expect(info).toMatchObject({
        clientAddress: { host: '203.0.113.7', port: 40_000, family: 'IPv4' },
        proxy: {
          version: 2,
          authority: 'example.test',
          uniqueId: '0a0b0c',
          tlvBuffers: true,
        },
      });
      expect(info.request).toBe(tcpPreparedIn === 'host' ? 'Socket' : 'BridgedSocket');
    });

    it('PROXY: malformed, untrusted and slow headers are closed, reported, and reach no handler', async () => {
      const server = await start(
        await TCP.create({ host: HOST, port: 0, family: 'IPv4' as const }, Whois, {
          proxyProtocol: true,
          proxyHeaderTimeout: 300,
        }),
      );
      expect(await refused(await tcp(server.serverAddress), 'PROXY TCP4 nonsense\r\nwho\n')).toBe(
        true,
      );
      const slow = await tcp(server.serverAddress);
      slow.write(v2({ source: ['203.0.113.7', 1] }).subarray(0, 10));
      expect(await refused(slow, Buffer.alloc(0))).toBe(true);
      await until(() => server.errors.length === 2);
      const reasons = (server.errors as ProxyProtocolError[]).map((error) => error.reason).sort();
      expect(reasons).toEqual(['malformed', 'timeout']);
      for (const error of server.errors) expect(error).toBeInstanceOf(ProxyProtocolError);

      const strict = await start(
        await TCP.create({ host: HOST, port: 0, family: 'IPv4' as const }, Whois, {
          proxyProtocol: true,
          proxyProtocolFrom: ['10.0.0.0/8'],
        }),
      );
      const header = v2({ source: ['203.0.113.7', 40_000] });
      expect(await refused(await tcp(strict.serverAddress), header)).toBe(true);
      await until(() => strict.errors.length === 1);
      expect((strict.errors[0] as ProxyProtocolError).reason).toBe('untrusted');
    });

    it('PROXY v1 and v2 on a Unix stream socket', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'ss-deploy-'));
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      const server = await start(
        await Unix.create(join(dir, 's.sock'), Whois, { proxyProtocol: true }),
      );
      const one = await whois(
        await tcp(server.serverAddress),
        Buffer.from('PROXY TCP6 2001:db8::1 2001:db8::2 5000 80\r\n'),
      );
      expect(one).toMatchObject({
        clientAddress: { host: '2001:db8::1', port: 5000, family: 'IPv6' },
        proxy: { version: 1, tlvBuffers: true },
      });
      const two = await whois(
        await tcp(server.serverAddress),
        v2({ source: ['198.51.100.3', 7], tlvs: [{ type: 0x02, value: 'unix.test' }] }),
      );
      expect(two).toMatchObject({
        clientAddress: { host: '198.51.100.3', port: 7 },
        proxy: { version: 2, authority: 'unix.test' },
      });
      expect(two.request).toBe(kind === 'thread' ? 'BridgedSocket' : 'Socket');
    });
  });
}
