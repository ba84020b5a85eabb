/**
 * Socket activation for tests: a harness that passes listening sockets as
 * descriptors 3 and up with LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES, the
 * way systemd does; `systemd-socket-activate` itself (Debian's systemd
 * package); and a fake NOTIFY_SOCKET that records what a service sends.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** A started process with its output collected. */
function watch(proc) {
  let stdout = '';
  let stderr = '';
  const watchers = new Set();
  const wake = () => {
    for (const check of [...watchers]) check();
  };
  proc.stdout.setEncoding('utf8').on('data', (text) => {
    stdout += text;
    wake();
  });
  proc.stderr.setEncoding('utf8').on('data', (text) => {
    stderr += text;
    wake();
  });
  const exited = new Promise((resolve) =>
    proc.once('close', (code, signal) => {
      wake();
      resolve({ code, signal });
    }),
  );
  let done = false;
  void exited.then(() => {
    done = true;
    wake();
  });
  const waitFor = (stream, pattern) =>
    new Promise((resolve, reject) => {
      const check = () => {
        const text = stream === 'stdout' ? stdout : stderr;
        const match = pattern.exec(text);
        if (match) {
          watchers.delete(check);
          resolve(match);
        } else if (done) {
          watchers.delete(check);
          reject(
            new Error(
              `exited before ${stream} matched ${pattern}; stdout: ${stdout}; stderr: ${stderr}`,
            ),
          );
        }
      };
      watchers.add(check);
      check();
    });
  return {
    proc,
    stdout: () => stdout,
    stderr: () => stderr,
    waitForStdout: (pattern) => waitFor('stdout', pattern),
    waitForStderr: (pattern) => waitFor('stderr', pattern),
    exited,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

/**
 * Runs `command args` with `sockets` (descriptors open in this process) as
 * its descriptors 3, 4, ...; LISTEN_FDS, LISTEN_FDNAMES (when names are
 * given) and LISTEN_PID (the child's own pid: set by `sh` before it `exec`s
 * the command, which keeps the pid).
 */
export function activate({ command, args = [], sockets, names, env = {} }) {
  const listen = {
    LISTEN_FDS: String(sockets.length),
    ...(names ? { LISTEN_FDNAMES: names.join(':') } : {}),
  };
  const proc = spawn(
    '/bin/sh',
    ['-c', 'LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"', command, ...args],
    {
      stdio: ['ignore', 'pipe', 'pipe', ...sockets],
      env: { ...process.env, ...env, ...listen },
    },
  );
  return watch(proc);
}

/** The systemd-socket-activate binary; throws when it is not installed. */
export function socketActivatePath() {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/bin', '/bin']) {
    if (dir && existsSync(join(dir, 'systemd-socket-activate')))
      return join(dir, 'systemd-socket-activate');
  }
  throw new Error(
    'systemd-socket-activate is not installed (Debian package systemd; see .ci/setup.d/deploy.sh)',
  );
}

/**
 * Runs `systemd-socket-activate` listening on `listen` (addresses it
 * accepts: `127.0.0.1:PORT`, `/path`), which starts `command args` on the
 * first connection or datagram, passing the sockets.
 */
export function systemdSocketActivate({
  listen,
  datagram = false,
  fdnames,
  command,
  args = [],
  env = {},
}) {
  const options = [
    ...listen.flatMap((address) => ['--listen', address]),
    ...(datagram ? ['--datagram'] : []),
    ...(fdnames ? [`--fdname=${fdnames.join(':')}`] : []),
    ...Object.entries(env).map(([name, value]) => `--setenv=${name}=${value}`),
  ];
  const proc = spawn(socketActivatePath(), [...options, command, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  return watch(proc);
}

/** A TCP port free right now on 127.0.0.1 (for tools that cannot bind port 0 and report it). */
export async function freePort() {
  const server = createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const NOTIFY_RECEIVER = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
path = sys.argv[1]
s.bind("\\0" + path[1:] if path.startswith("@") else path)
print("bound", flush=True)
while True:
    data = s.recv(65536)
    print(data.decode().replace("\\n", "|"), flush=True)
`;

/**
 * A fake NOTIFY_SOCKET: a Unix datagram socket bound at `path` (a file, or
 * `'\0name'` for an abstract name) by Python
 * (independent of the code under test) that records each notification as
 * one entry, its `KEY=value` lines joined by `|`.
 */
export async function fakeNotifySocket(path) {
  // An abstract name ('\0name') crosses the command line as '@name'.
  const argument = path.startsWith('\0') ? `@${path.slice(1)}` : path;
  const proc = spawn('python3', ['-c', NOTIFY_RECEIVER, argument], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const receiver = watch(proc);
  await receiver.waitForStdout(/^bound\n/);
  const messages = () =>
    receiver
      .stdout()
      .split('\n')
      .slice(1)
      .filter((line) => line !== '');
  return {
    path,
    messages,
    /** Waits for a notification (a line) matching `pattern`. */
    async next(pattern) {
      const flags = pattern.flags.includes('m') ? pattern.flags : `${pattern.flags}m`;
      await receiver.waitForStdout(new RegExp(pattern.source, flags));
      return messages().find((line) => pattern.test(line));
    },
    close: () => receiver.stop('SIGKILL'),
  };
}
