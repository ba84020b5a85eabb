import { createSocket, type Socket as DgramSocket, type SocketOptions } from 'node:dgram';
import { type AddressInfo, createServer, isIP, type ListenOptions, type Server } from 'node:net';
import { type InetAddress, InvalidArgumentError, UnsupportedError } from '@socketserver/core';

/**
 * The address a TCP or UDP server binds: `{ host, port }` or Python's
 * `[host, port]` tuple. `host` may be an IPv4 or IPv6 literal, a name such as
 * `localhost`, or `''`/omitted for every interface (dual stack where the
 * host has IPv6). `port` 0 (the default) picks a free port.
 */
export type InetAddressInput =
  | { host?: string; port?: number }
  | readonly [host: string, port: number];

/** Validates an {@link InetAddressInput}; throws {@link InvalidArgumentError} at once. */
export function normalizeInetAddress(input: InetAddressInput): InetAddress {
  const [host, port] = Array.isArray(input)
    ? (input as readonly [string, number])
    : [(input as { host?: string }).host ?? '', (input as { port?: number }).port ?? 0];
  if (typeof host !== 'string') throw new InvalidArgumentError('host must be a string');
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidArgumentError(`port must be an integer from 0 to 65535, got ${String(port)}`);
  }
  return { host, port, family: isIP(host) === 6 || host === '' ? 'IPv6' : 'IPv4' };
}

/** The `host` to pass to Node: `undefined` for every interface. */
export function bindHost(address: InetAddress): string | undefined {
  return address.host === '' ? undefined : address.host;
}

/** One probe per socket kind and process. */
const reusePortProbes = new Map<'net' | 'dgram', Promise<boolean>>();

/**
 * Whether this Node.js sets `SO_REUSEPORT` for `kind` (`net` and `dgram`
 * have the `reusePort` option from 22.12; Node 20 ignores it silently).
 * Found by trying, once per process: two sockets bound to one loopback port
 * with the option. A feature test, not a version test.
 */
export function reusePortWorks(kind: 'net' | 'dgram'): Promise<boolean> {
  let probe = reusePortProbes.get(kind);
  if (probe === undefined) {
    probe = kind === 'net' ? probeNet() : probeDgram();
    reusePortProbes.set(kind, probe);
  }
  return probe;
}

async function probeNet(): Promise<boolean> {
  const listen = (server: Server, port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port, reusePort: true } as ListenOptions, resolve);
    });
  const first = createServer();
  const second = createServer();
  try {
    await listen(first, 0);
    return await listen(second, (first.address() as AddressInfo).port).then(
      () => true,
      () => false,
    );
  } finally {
    first.close();
    second.close();
  }
}

async function probeDgram(): Promise<boolean> {
  const open = () => createSocket({ type: 'udp4', reusePort: true } as SocketOptions);
  const bind = (socket: DgramSocket, port: number) =>
    new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, '127.0.0.1', resolve);
    });
  const first = open();
  const second = open();
  try {
    await bind(first, 0);
    return await bind(second, first.address().port).then(
      () => true,
      () => false,
    );
  } finally {
    first.close();
    second.close();
  }
}

/**
 * Rejects with {@link UnsupportedError} when this Node.js cannot set
 * `SO_REUSEPORT` for `kind` (see {@link reusePortWorks}): asking for it must
 * fail loudly rather than be ignored.
 */
export async function assertReusePortSupported(kind: 'net' | 'dgram'): Promise<void> {
  if (await reusePortWorks(kind)) return;
  throw new UnsupportedError(
    `allowReusePort needs SO_REUSEPORT for ${kind}, which Node.js ${process.versions.node} does not set ` +
      '(Node.js 22.12 and later do)',
  );
}
