import { isIP } from 'node:net';
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

const REUSE_PORT_SINCE = { net: [22, 12], dgram: [22, 12] } as const;

/**
 * Throws {@link UnsupportedError} when this Node.js cannot set `SO_REUSEPORT`
 * (Node 20 ignores the option silently, so asking for it must fail loudly).
 */
export function assertReusePortSupported(kind: 'net' | 'dgram'): void {
  const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
  const [needMajor, needMinor] = REUSE_PORT_SINCE[kind];
  if (major > needMajor || (major === needMajor && minor >= needMinor)) return;
  throw new UnsupportedError(
    `allowReusePort needs Node.js >= 22.12 (SO_REUSEPORT for ${kind}); this is Node.js ${process.versions.node}`,
  );
}
