/**
 * The deployment side of the command line: TLS (`--tls-cert`, `--tls-key`,
 * reloaded on SIGHUP), the PROXY protocol (`--proxy-protocol`,
 * `--proxy-from`), sockets inherited from systemd (used when present) and
 * readiness (`sd_notify`). Each is a setting of the server the CLI creates;
 * this module turns flags and the environment into those settings.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import {
  type InheritedSocket,
  LOOPBACK_SOURCES,
  listenFds,
  type SocketKind,
  type TLSSettings,
  TrustedSources,
  takeListenFd,
} from '@socketserver/core';
import type { Transport } from './servers.js';

/** A command-line mistake: printed after the usage lines, exit status 2 (as Python's argparse). */
export class UsageError extends Error {}

/** The deployment flags, checked. */
export interface DeployOptions {
  /** `--tls-cert` and `--tls-key`, or null for no TLS. */
  tls: { certFile: string; keyFile: string } | null;
  /** The trusted PROXY sources (`--proxy-from`, loopback with `--proxy-protocol`), or null: no PROXY protocol. */
  proxyFrom: readonly string[] | null;
}

/** The `parseArgs` options of the deployment flags. */
export const DEPLOY_FLAGS = {
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'proxy-protocol': { type: 'boolean' },
  'proxy-from': { type: 'string' },
} as const;

/** The deployment part of `--help`. */
export const DEPLOY_HELP = `deployment options:
  --tls-cert FILE       serve TLS (tcp only) with this certificate (PEM; a
  --tls-key FILE        chain may follow it) and its key; SIGHUP reloads both
                        files (open connections keep theirs)
  --proxy-protocol      expect a PROXY protocol header (v1 or v2) on every
                        connection, from loopback only (tcp, unix); the client
                        it names is the one echoed to and logged
  --proxy-from LIST     the same, trusting these addresses or CIDR blocks
                        (comma-separated, e.g. 10.0.0.0/8,fd00::/8)

Sockets passed by systemd (LISTEN_FDS) are served instead of binding a port
or --unix: the one of this transport, and the ready line says so. With
NOTIFY_SOCKET set (Type=notify), READY=1 is sent once serving and STOPPING=1
on SIGINT or SIGTERM.
`;

/** The kind of socket each transport serves. */
const KINDS: Record<Transport, SocketKind> = {
  tcp: 'tcp',
  udp: 'udp',
  unix: 'unix',
  'unix-dgram': 'unix-dgram',
};

/** Checks the deployment flags against the transport; throws {@link UsageError}. */
export function parseDeployOptions(
  values: Record<string, string | boolean | undefined>,
  transport: Transport,
): DeployOptions {
  return { tls: parseTLS(values, transport), proxyFrom: parseProxy(values, transport) };
}

function parseTLS(
  values: Record<string, string | boolean | undefined>,
  transport: Transport,
): DeployOptions['tls'] {
  const certFile = values['tls-cert'] as string | undefined;
  const keyFile = values['tls-key'] as string | undefined;
  if (certFile === undefined && keyFile === undefined) return null;
  if (certFile === undefined || keyFile === undefined) {
    throw new UsageError('--tls-cert and --tls-key go together');
  }
  if (transport !== 'tcp')
    throw new UsageError(`--tls-cert does not apply to --transport ${transport}`);
  return { certFile, keyFile };
}

function parseProxy(
  values: Record<string, string | boolean | undefined>,
  transport: Transport,
): DeployOptions['proxyFrom'] {
  const from = values['proxy-from'] as string | undefined;
  if (values['proxy-protocol'] !== true && from === undefined) return null;
  if (transport !== 'tcp' && transport !== 'unix') {
    throw new UsageError(
      `--proxy-protocol does not apply to --transport ${transport} (stream transports only)`,
    );
  }
  if (from === undefined) return LOOPBACK_SOURCES;
  const sources = from.split(',').map((source) => source.trim());
  try {
    new TrustedSources(sources);
  } catch (error) {
    throw new UsageError(`--proxy-from: ${(error as Error).message}`);
  }
  return sources;
}

/** Reads the certificate and key files; throws {@link UsageError} naming the file that failed. */
export function readTLS(tls: NonNullable<DeployOptions['tls']>): TLSSettings {
  const read = (option: string, file: string) => {
    try {
      return readFileSync(file);
    } catch (error) {
      throw new UsageError(`${option} ${file}: ${(error as Error).message}`);
    }
  };
  return { cert: read('--tls-cert', tls.certFile), key: read('--tls-key', tls.keyFile) };
}

/**
 * The socket systemd passed for this transport, if any. Throws
 * {@link UsageError} when sockets were passed but none (or several) fit.
 */
export function inheritedSocket(transport: Transport): InheritedSocket | undefined {
  if (listenFds().length === 0) return undefined;
  let socket: InheritedSocket | undefined;
  try {
    socket = takeListenFd(KINDS[transport]);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (socket === undefined) {
    const passed = listenFds()
      .map((s) => `${s.name}=${s.kind}`)
      .join(', ');
    throw new UsageError(
      `systemd passed sockets (${passed}), none of them ${KINDS[transport]} for --transport ${transport}`,
    );
  }
  return socket;
}

/** The server settings the deployment options ask for. */
export function deploySettings(
  options: DeployOptions,
  tls: TLSSettings | null,
  inherited: InheritedSocket | undefined,
): Record<string, unknown> {
  return {
    ...(tls === null ? {} : { tls }),
    ...(options.proxyFrom === null
      ? {}
      : { proxyProtocol: true, proxyProtocolFrom: options.proxyFrom }),
    ...(inherited === undefined ? {} : { listenFd: inherited.fd }),
  };
}

/** What the ready line adds after the URL: `` (socket from systemd, fd 3; PROXY protocol from ...)``, or nothing. */
export function readyNotes(options: DeployOptions, inherited: InheritedSocket | undefined): string {
  const notes = [
    ...(inherited === undefined ? [] : [`socket from systemd, fd ${inherited.fd}`]),
    ...(options.proxyFrom === null ? [] : [`PROXY protocol from ${options.proxyFrom.join(',')}`]),
  ];
  return notes.length === 0 ? '' : ` (${notes.join('; ')})`;
}
