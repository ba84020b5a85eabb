/**
 * The deployment flags of `socketserver-http`, end to end with real tools:
 * HTTPS with certificates made by openssl (curl and Node as clients, a
 * SIGHUP reload that keeps open connections), the PROXY protocol behind a
 * real HAProxy (the access log names the client, not the balancer),
 * sockets passed by systemd-socket-activate (TCP and Unix) with READY=1 and
 * STOPPING=1 sent to a fake NOTIFY_SOCKET, and bad combinations (exit 2).
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { Agent, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { TLSSocket } from 'node:tls';
import {
  fakeNotifySocket,
  freePort,
  makeCertificates,
  startHAProxy,
  systemdSocketActivate,
  type TestCertificates,
  type Watched,
} from '@socketserver/test-deploy';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startCli, stderrContains, stopAllClis } from './helpers.js';

const CLI = resolve(import.meta.dirname, '..', 'dist', 'cli.js');

let certs: TestCertificates;
let dir: string;
beforeAll(() => {
  certs = makeCertificates();
  dir = mkdtempSync(join(tmpdir(), 'sshttp-deploy-'));
  writeFileSync(join(dir, 'hello.txt'), 'hello over the wire\n');
});
afterAll(() => {
  stopAllClis();
  certs.remove();
  rmSync(dir, { recursive: true, force: true });
});

const stops: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

/** GET over HTTPS with the test CA; the body and the server certificate's fingerprint. */
function getHTTPS(
  port: number,
  path: string,
  agent?: Agent,
): Promise<{ status: number; body: string; fingerprint: string }> {
  return new Promise((done, fail) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port, path, ca: certs.ca.cert, servername: 'localhost', agent },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (text: string) => {
          body += text;
        });
        res.on('end', () => done({ status: res.statusCode!, body, fingerprint }));
      },
    );
    let fingerprint = '';
    req.on('socket', (socket: TLSSocket) => {
      const read = () => {
        fingerprint = socket.getPeerCertificate().fingerprint256;
      };
      // A socket reused by the agent is connected already; a new one is not yet.
      if (socket.getPeerCertificate?.()?.fingerprint256) read();
      else socket.once('secureConnect', read);
    });
    req.on('error', fail);
    req.end();
  });
}

function curl(args: string[]): Promise<string> {
  return new Promise((done, fail) =>
    execFile(
      'curl',
      ['--silent', '--show-error', '--max-time', '10', ...args],
      (error, stdout, stderr) =>
        error ? fail(new Error(`${error.message}: ${stderr}`)) : done(stdout),
    ),
  );
}

describe('--tls-cert / --tls-key', () => {
  it('serves HTTPS (curl and Node), says https:// in the serving line, reloads on SIGHUP', async () => {
    const cert = join(dir, 'live.pem');
    const key = join(dir, 'live-key.pem');
    copyFileSync(certs.server.certFile, cert);
    copyFileSync(certs.server.keyFile, key);
    const cli = await startCli(dir, ['0', '-b', '127.0.0.1', '--tls-cert', cert, '--tls-key', key]);
    expect(cli.line).toBe(
      `Serving HTTPS on 127.0.0.1 port ${cli.port} (https://127.0.0.1:${cli.port}/) ...\n`,
    );
    expect(
      await curl([
        '--cacert',
        certs.ca.certFile,
        `https://localhost:${cli.port}/hello.txt`,
        '--resolve',
        `localhost:${cli.port}:127.0.0.1`,
      ]),
    ).toBe('hello over the wire\n');
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    stops.push(async () => agent.destroy());
    const first = await getHTTPS(cli.port, '/hello.txt', agent);
    expect(first).toMatchObject({
      status: 200,
      body: 'hello over the wire\n',
      fingerprint: certs.server.fingerprint256,
    });

    copyFileSync(certs.renewed.certFile, cert);
    copyFileSync(certs.renewed.keyFile, key);
    cli.child.kill('SIGHUP');
    await stderrContains(cli, 'SIGHUP received, certificate reloaded');
    // The kept-alive connection goes on with the certificate it started with; a new one gets the new one.
    expect(await getHTTPS(cli.port, '/hello.txt', agent)).toMatchObject({
      status: 200,
      fingerprint: certs.server.fingerprint256,
    });
    expect(await getHTTPS(cli.port, '/hello.txt')).toMatchObject({
      status: 200,
      fingerprint: certs.renewed.fingerprint256,
    });
    cli.child.kill('SIGTERM');
    expect(await cli.exited).toBe(0);
  });

  const bad: Array<[string[], RegExp]> = [
    [['--tls-cert', 'c.pem'], /--tls-cert and --tls-key go together/],
    [['--unix', 'x.sock', '--tls-cert', 'c', '--tls-key', 'k'], /cannot be combined with --unix/],
    [['--proxy-from', 'nowhere'], /--proxy-from: not an address or CIDR block/],
    [
      ['--tls-cert', '/nonexistent/c.pem', '--tls-key', '/nonexistent/k.pem'],
      /--tls-cert \/nonexistent\/c\.pem: ENOENT/,
    ],
  ];
  for (const [args, message] of bad) {
    it(`bad: ${args.join(' ')}`, async () => {
      const { code, stderr } = await runCli(dir, args);
      expect(code).toBe(2);
      expect(stderr).toMatch(message);
    });
  }
});

describe('--proxy-protocol behind HAProxy', () => {
  it('the access log names the client at 127.0.0.6, not HAProxy', async () => {
    const cli = await startCli(dir, ['0', '-b', '127.0.0.1', '--proxy-protocol']);
    expect(cli.line).toBe(
      `Serving HTTP on 127.0.0.1 port ${cli.port} (http://127.0.0.1:${cli.port}/) ... (PROXY protocol from 127.0.0.0/8,::1/128)\n`,
    );
    const proxy = await startHAProxy(`
frontend fe
  bind fd@3
  default_backend be
backend be
  server s1 127.0.0.1:${cli.port} send-proxy-v2
`);
    stops.push(() => proxy.stop());
    const body = await curl([
      '--interface',
      '127.0.0.6',
      `http://127.0.0.1:${proxy.address.port}/hello.txt`,
    ]);
    expect(body).toBe('hello over the wire\n');
    await stderrContains(cli, '"GET /hello.txt HTTP/1.1" 200');
    expect(cli.stderr()).toMatch(/^127\.0\.0\.6 - - \[[^\]]+\] "GET \/hello\.txt HTTP\/1\.1" 200/m);
    // Straight to the server, without a header: refused and said in the log.
    await expect(
      new Promise((done, fail) => {
        const req = httpRequest({ host: '127.0.0.1', port: cli.port, path: '/hello.txt' }, done);
        req.on('error', fail);
        req.end();
      }),
    ).rejects.toThrow();
    await stderrContains(cli, 'PROXY protocol header malformed');
  });
});

describe('HTTPS behind HAProxy where the handler runs (--mode threading, forking)', () => {
  for (const mode of ['threading', 'forking']) {
    it(`${mode}: curl through HAProxy (send-proxy-v2, TLS passed through); the log names the client; SIGHUP reloads`, async () => {
      const cert = join(dir, `${mode}.pem`);
      const key = join(dir, `${mode}-key.pem`);
      copyFileSync(certs.server.certFile, cert);
      copyFileSync(certs.server.keyFile, key);
      const cli = await startCli(dir, [
        '0',
        '-b',
        '127.0.0.1',
        '--mode',
        mode,
        '--tls-cert',
        cert,
        '--tls-key',
        key,
        '--proxy-protocol',
      ]);
      expect(cli.line).toBe(
        `Serving HTTPS on 127.0.0.1 port ${cli.port} (https://127.0.0.1:${cli.port}/) ... (PROXY protocol from 127.0.0.0/8,::1/128)\n`,
      );
      const proxy = await startHAProxy(`
frontend fe
  bind fd@3
  default_backend be
backend be
  server s1 127.0.0.1:${cli.port} send-proxy-v2
`);
      stops.push(() => proxy.stop());
      const url = `https://localhost:${proxy.address.port}/hello.txt`;
      const resolveTo = `localhost:${proxy.address.port}:127.0.0.1`;
      const args = [
        '--cacert',
        certs.ca.certFile,
        '--resolve',
        resolveTo,
        '--interface',
        '127.0.0.6',
      ];
      expect(await curl([...args, url])).toBe('hello over the wire\n');
      await stderrContains(cli, '"GET /hello.txt HTTP/1.1" 200');
      expect(cli.stderr()).toMatch(
        /^127\.0\.0\.6 - - \[[^\]]+\] "GET \/hello\.txt HTTP\/1\.1" 200/m,
      );

      copyFileSync(certs.renewed.certFile, cert);
      copyFileSync(certs.renewed.keyFile, key);
      cli.child.kill('SIGHUP');
      await stderrContains(cli, 'SIGHUP received, certificate reloaded');
      const renewed = await new Promise<string>((done, fail) => {
        const req = httpsRequest(
          {
            host: '127.0.0.1',
            port: proxy.address.port,
            path: '/hello.txt',
            ca: certs.ca.cert,
            servername: 'localhost',
            agent: false,
          },
          (res) => {
            done((res.socket as TLSSocket).getPeerCertificate().fingerprint256);
            res.resume();
          },
        );
        req.on('error', fail);
        req.end();
      });
      expect(renewed).toBe(certs.renewed.fingerprint256);
      cli.child.kill('SIGTERM');
      expect(await cli.exited).toBe(0);
    });
  }
});

describe('sockets from systemd', () => {
  async function activated(listen: string, env: Record<string, string> = {}): Promise<Watched> {
    const proc = systemdSocketActivate({
      listen: [listen],
      command: process.execPath,
      args: [CLI, '-d', dir],
      env,
    });
    stops.push(() => proc.stop());
    await proc.waitForStderr(/Listening on .* as 3/);
    return proc;
  }

  it('TCP: served, said in the serving line; READY=1 and STOPPING=1 reach NOTIFY_SOCKET', async () => {
    const notify = await fakeNotifySocket(join(dir, 'notify'));
    stops.push(() => notify.close());
    const port = await freePort();
    const proc = await activated(`127.0.0.1:${port}`, { NOTIFY_SOCKET: notify.path });
    expect(await curl([`http://127.0.0.1:${port}/hello.txt`])).toBe('hello over the wire\n');
    const [line] = await proc.waitForStdout(/^Serving.*\n/m);
    expect(line).toBe(
      `Serving HTTP on 127.0.0.1 port ${port} (http://127.0.0.1:${port}/) ... (socket from systemd, fd 3)\n`,
    );
    expect(await notify.next(/^READY=1/)).toBe(`READY=1|STATUS=${line!.trim()}`);
    proc.proc.kill('SIGTERM');
    expect((await proc.exited).code).toBe(0);
    expect(notify.messages()).toEqual([`READY=1|STATUS=${line!.trim()}`, 'STOPPING=1']);
  });

  it('Unix stream: served on the socket systemd made', async () => {
    const path = join(dir, 'http.sock');
    const proc = await activated(path);
    expect(await curl(['--unix-socket', path, 'http://localhost/hello.txt'])).toBe(
      'hello over the wire\n',
    );
    const [line] = await proc.waitForStdout(/^Serving.*\n/m);
    expect(line).toBe(`Serving HTTP on unix socket ${path} ... (socket from systemd, fd 3)\n`);
  });
});
