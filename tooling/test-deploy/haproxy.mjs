/**
 * A real HAProxy (Debian's `haproxy` package), started on loopback by a
 * test. Its frontend is a listening socket made here and passed as fd 3
 * (`bind fd@3` in the configuration), so its port is known before HAProxy
 * starts and no port is guessed.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The haproxy binary: on PATH, or where Debian puts it (/usr/sbin is not on every user's PATH). */
export function haproxyPath() {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, 'haproxy'))) return join(dir, 'haproxy');
  }
  if (existsSync('/usr/sbin/haproxy')) return '/usr/sbin/haproxy';
  throw new Error('haproxy is not installed (Debian package haproxy; see .ci/setup.d/deploy.sh)');
}

/** Options for the generated defaults section. */
const DEFAULTS = `defaults
  mode tcp
  timeout connect 2s
  timeout client 20s
  timeout server 20s
`;

export async function startHAProxy(sections) {
  const listener = createServer();
  await new Promise((resolve, reject) => {
    listener.once('error', reject);
    listener.listen({ host: '127.0.0.1', port: 0, backlog: 511 }, resolve);
  });
  const { port } = listener.address();
  // Test-only: the listening socket's descriptor, to hand to HAProxy.
  const fd = listener._handle.fd;
  const dir = mkdtempSync(join(tmpdir(), 'socketserver-haproxy-'));
  const config = join(dir, 'haproxy.cfg');
  writeFileSync(config, `global\n  maxconn 2000\n\n${DEFAULTS}\n${sections}\n`);
  const proc = spawn(haproxyPath(), ['-db', '-f', config], {
    stdio: ['ignore', 'pipe', 'pipe', fd],
  });
  // HAProxy holds its own copy of the socket now; this process must not accept on it.
  listener.close();
  let output = '';
  proc.stdout.setEncoding('utf8').on('data', (text) => {
    output += text;
  });
  proc.stderr.setEncoding('utf8').on('data', (text) => {
    output += text;
  });
  const exited = new Promise((resolve) =>
    proc.once('close', (code, signal) => resolve({ code, signal })),
  );
  return {
    address: { host: '127.0.0.1', port, family: 'IPv4' },
    output: () => output,
    exited,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
