/**
 * Behind a real HAProxy (Debian's package, started here on loopback): two
 * server instances balanced round robin, one sent PROXY version 1
 * (`send-proxy`), the other version 2 with TLVs and a CRC32C checksum
 * (`send-proxy-v2` + `proxy-v2-options`). A client bound to 127.0.0.5 must
 * be seen as 127.0.0.5 by both; HAProxy's plain TCP health checks (`check
 * port`: connect, then reset, no header) must not be reported as errors. And a TLSServer behind
 * HAProxy in TCP mode: PROXY header first, then the client's own TLS.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { EventLoopMixIn, StreamRequestHandler } from '@socketserver/core';
import {
  type HAProxy,
  makeCertificates,
  startHAProxy,
  type TestCertificates,
} from '@socketserver/test-deploy';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { TCPServer, TLSServer } from '../src/index.js';

/** Answers each line with who the server is and who it thinks the client is. */
class WhoHandler extends StreamRequestHandler {
  override async handle(): Promise<void> {
    for await (const line of this.rfile) {
      const header = this.proxyHeader;
      await this.wfile.write(
        `${JSON.stringify({
          server: (this.server as unknown as { name: string }).name,
          line: line.toString().trim(),
          clientAddress: this.clientAddress,
          version: header?.version ?? null,
          uniqueId: header?.uniqueId?.toString() ?? null,
          destination: header?.destination ?? null,
          encrypted: (this.request as TLSSocket).encrypted === true,
        })}\n`,
      );
    }
  }
}

function named<T extends abstract new (...args: any[]) => TCPServer>(Base: T) {
  abstract class Named extends Base {
    name = '';
    errors: unknown[] = [];
    override handleError(_request: unknown, _address: unknown, error: unknown) {
      this.errors.push(error);
    }
  }
  return Named;
}
class Backend extends named(EventLoopMixIn(TCPServer)) {}
class TLSBackend extends named(EventLoopMixIn(TLSServer)) {}
type AnyBackend = Backend | TLSBackend;

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

let certs: TestCertificates;
beforeAll(() => {
  certs = makeCertificates();
});
afterAll(() => certs.remove());

async function backend(
  name: string,
  Server: typeof Backend | typeof TLSBackend = Backend,
  settings: Record<string, unknown> = {},
): Promise<AnyBackend> {
  const server = (await (Server as typeof Backend).create(
    { host: '127.0.0.1', port: 0 },
    WhoHandler as never,
    { name, proxyProtocol: true, ...settings } as never,
  )) as AnyBackend;
  const loop = server.serveForever({ pollInterval: 20 });
  stops.push(async () => {
    await server.shutdown();
    await loop;
    await server.serverClose();
  });
  return server;
}

async function haproxy(sections: string): Promise<HAProxy> {
  const proxy = await startHAProxy(sections);
  stops.push(() => proxy.stop());
  return proxy;
}

/** Connects through HAProxy from a chosen loopback address, asks one line, returns the answer. */
function askThrough(
  proxy: HAProxy,
  localAddress: string,
  line: string,
): Promise<Record<string, any>> {
  return new Promise((resolve, reject) => {
    const { host, port } = proxy.address;
    const socket: Socket = netConnect({ host, port, localAddress });
    let got = '';
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      got += text;
      if (!got.endsWith('\n')) return;
      socket.end();
      resolve({ ...JSON.parse(got), localPort: socket.localPort });
    });
    socket.once('error', (error) =>
      reject(new Error(`${error.message}; haproxy: ${proxy.output()}`)),
    );
    socket.once('close', () =>
      reject(new Error(`closed without an answer; haproxy: ${proxy.output()}`)),
    );
    socket.write(`${line}\n`);
  });
}

describe('behind HAProxy', () => {
  test('two instances, send-proxy and send-proxy-v2: both see the client at 127.0.0.5', async () => {
    const v1 = await backend('v1');
    const v2 = await backend('v2');
    const proxy = await haproxy(`
frontend fe
  bind fd@3
  unique-id-format conn-%{+X}o%ci-%cp
  default_backend be
backend be
  balance roundrobin
  server s1 127.0.0.1:${v1.serverAddress.port} send-proxy check port ${v1.serverAddress.port} inter 100ms
  server s2 127.0.0.1:${v2.serverAddress.port} send-proxy-v2 proxy-v2-options crc32c,unique-id check port ${v2.serverAddress.port} inter 100ms
`);
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push(await askThrough(proxy, '127.0.0.5', `hello ${i}`));
    const servers = answers.map((answer) => answer.server);
    expect(servers.filter((s) => s === 'v1')).toHaveLength(3);
    expect(servers.filter((s) => s === 'v2')).toHaveLength(3);
    for (const answer of answers) {
      expect(answer.clientAddress).toEqual({
        host: '127.0.0.5',
        port: answer.localPort,
        family: 'IPv4',
      });
      expect(answer.destination).toEqual({
        host: '127.0.0.1',
        port: proxy.address.port,
        family: 'IPv4',
      });
      expect(answer.version).toBe(answer.server === 'v1' ? 1 : 2);
      // unique-id-format renders the client's address in hex: 7F000005.
      if (answer.server === 'v2') expect(answer.uniqueId).toMatch(/^conn-7F000005/);
      else expect(answer.uniqueId).toBeNull();
    }
    // HAProxy's checks with a \`port\` are plain TCP (connect, reset, no PROXY header): not errors.
    expect([...v1.errors, ...v2.errors].map((e: any) => e.stack)).toEqual([]);
  });

  test("a server that trusts only another network closes HAProxy's connections and reports them", async () => {
    const strict = await backend('strict', Backend, { proxyProtocolFrom: ['192.0.2.0/24'] });
    const proxy = await haproxy(`
frontend fe
  bind fd@3
  default_backend be
backend be
  server s1 127.0.0.1:${strict.serverAddress.port} send-proxy-v2
`);
    await expect(askThrough(proxy, '127.0.0.5', 'hi')).rejects.toThrow();
    expect(strict.errors).toContainEqual(
      expect.objectContaining({ code: 'ERR_SOCKETSERVER_PROXY_PROTOCOL', reason: 'untrusted' }),
    );
  });

  test("TLSServer behind HAProxy in TCP mode: the client's own TLS, its own address", async () => {
    const secure = await backend('tls', TLSBackend, {
      tls: { cert: certs.server.cert, key: certs.server.key },
    });
    const proxy = await haproxy(`
frontend fe
  bind fd@3
  default_backend be
backend be
  server s1 127.0.0.1:${secure.serverAddress.port} send-proxy-v2
`);
    const answer = await new Promise<Record<string, any>>((resolve, reject) => {
      // tls.connect passes localAddress on to net.connect (its types leave it out).
      const options = {
        host: proxy.address.host,
        port: proxy.address.port,
        localAddress: '127.0.0.9',
        ca: certs.ca.cert,
        servername: 'localhost',
      };
      const socket = tlsConnect(options);
      let got = '';
      socket.setEncoding('utf8');
      socket.on('data', (text: string) => {
        got += text;
        if (!got.endsWith('\n')) return;
        socket.end();
        resolve({
          ...JSON.parse(got),
          localPort: socket.localPort,
          fingerprint: socket.getPeerCertificate().fingerprint256,
        });
      });
      socket.once('error', reject);
      socket.write('over tls\n');
    });
    expect(answer).toMatchObject({
      server: 'tls',
      encrypted: true,
      version: 2,
      fingerprint: certs.server.fingerprint256,
      clientAddress: { host: '127.0.0.9', port: answer.localPort, family: 'IPv4' },
    });
    expect(secure.errors).toEqual([]);
  });
});
