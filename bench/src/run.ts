/**
 * `pnpm bench`: every echo server side by side in one run, then memory per
 * idle connection, printed as one Markdown report with ratios to named
 * baselines and the project's goals (targets for those ratios).
 *
 * ```
 * node dist/run.js [--smoke] [--duration ms] [--warmup ms] [--rounds n]
 *                  [--generators n] [--memory-connections n] [--only substring[,substring...]]
 *                  [--json file] [--no-memory] [--parallel n] [--settings json]
 *                  [--generator native|node]
 * ```
 * `BENCH_SMOKE=1` is `--smoke`: tiny durations and counts, for CI.
 * `--settings '{"requestQueueSize":511}'` passes settings to every
 * @socketserver server (for experiments; the report says so).
 * `--generator`: the native load generator (`dist/loadgen-native`, the
 * default when it was built) or the Node one (`dist/loadgen.js`, the
 * fallback when no C compiler was found at build time); the report says
 * which ran.
 *
 * @module
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { burn } from './handlers.js';
import { Histogram } from './histogram.js';
import type { LoadConfig, ResultMessage } from './load-config.js';
import { type GeneratorKind, nativeGeneratorBuilt } from './native-gen.js';
import {
  benchDir,
  groupCpuMs,
  killAll,
  openFileLimits,
  type ServerHandle,
  ServerStartError,
  startGenerator,
  startServer,
  stopAllOnSignals,
} from './procs.js';
import type { NodeKind, PythonClass, Transport } from './targets.js';
import { unixDgramUnavailable } from './unix-dgram.js';

// ---------------------------------------------------------------- options

// A usage mistake is said in one line (exit 2), not with parseArgs' stack trace.
const { values: flags } = (() => {
  try {
    return parseArgs({
      options: {
        smoke: { type: 'boolean', default: process.env.BENCH_SMOKE === '1' },
        duration: { type: 'string' },
        warmup: { type: 'string' },
        rounds: { type: 'string' },
        generators: { type: 'string' },
        'memory-connections': { type: 'string' },
        only: { type: 'string' },
        json: { type: 'string' },
        'no-memory': { type: 'boolean', default: false },
        parallel: { type: 'string' },
        settings: { type: 'string' },
        generator: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message} (see --help)\n`);
    process.exit(2);
  }
})();
if (flags.help) {
  process.stdout.write(
    'usage: node bench/dist/run.js [--smoke] [--duration ms] [--warmup ms] [--rounds n]\n' +
      '         [--generators n] [--memory-connections n] [--no-memory] [--only a,b]\n' +
      '         [--parallel n] [--settings json] [--json file] [--generator native|node]\n' +
      'The options are explained in bench/README.md ("Running it").\n',
  );
  process.exit(0);
}

/** Which load generator runs, and why (for the report's header). */
const generator: { kind: GeneratorKind; note: string } = (() => {
  const built = nativeGeneratorBuilt();
  switch (flags.generator) {
    case 'native':
      if (!built) {
        process.stderr.write(
          'bench: --generator native, but dist/loadgen-native is not built (the build found no C compiler)\n',
        );
        process.exit(2);
      }
      return { kind: 'native', note: 'native C (`dist/loadgen-native`)' };
    case 'node':
      return { kind: 'node', note: 'Node (`dist/loadgen.js`), chosen with `--generator node`' };
    case undefined:
      return built
        ? { kind: 'native', note: 'native C (`dist/loadgen-native`)' }
        : {
            kind: 'node',
            note: 'Node (`dist/loadgen.js`): the native one is not built (no C compiler at build time), so the generator costs about as much CPU per request as the servers',
          };
    default:
      process.stderr.write(`bench: --generator takes native or node, not ${flags.generator}\n`);
      process.exit(2);
  }
})();

const smoke = flags.smoke === true;
const settings = {
  warmupMs: Number(flags.warmup ?? (smoke ? 50 : 1000)),
  durationMs: Number(flags.duration ?? (smoke ? 200 : 3000)),
  // The grace ends as soon as every reply is in, so a long one costs nothing unless replies are
  // late: smoke runs share a loaded CI machine, where a reply 1 s late is late, not lost.
  graceMs: smoke ? 5000 : 2000,
  rounds: Math.max(1, Number(flags.rounds ?? 1)),
  generators: Math.max(1, Number(flags.generators ?? Math.max(1, Math.min(4, cpus().length - 1)))),
  keptConnections: smoke ? 4 : 50,
  forkingConnections: smoke ? 4 : 32,
  shortConcurrency: smoke ? 4 : 32,
  memoryConnections: Number(flags['memory-connections'] ?? (smoke ? 200 : 10_000)),
  // Rows run one at a time for real numbers; a smoke pass only checks that every row works.
  parallel: Math.max(1, Number(flags.parallel ?? (smoke ? 6 : 1))),
  lineLength: 64,
};

// ---------------------------------------------------------------- rows

type ServerSpec = { node: NodeKind } | { python: PythonClass };

interface EchoRow {
  id: string;
  section: Section;
  label: string;
  server: ServerSpec;
  transport: Transport;
  mode: 'kept' | 'short';
  connections: number;
  /** Ratios to show: [label, row id]. The first is the row's baseline. */
  compare: Array<[string, string]>;
  /** `cpu`: the CPU-bound echo (`CpuEchoHandler`) instead of the echo. */
  handler?: 'cpu';
  /** The generator speaks TLS (the Node generator: the native one has no TLS). */
  tls?: boolean;
  /** Bytes (hex) each connection sends first: a PROXY protocol header. */
  prefix?: string;
  /** Settings for this row's server, beyond `--settings`. */
  settings?: Record<string, unknown>;
}

type Section =
  | 'tcp'
  | 'udp'
  | 'unix'
  | 'unixdgram'
  | 'tcp-short'
  | 'unix-short'
  | 'cpu'
  | 'tls'
  | 'tls-short'
  | 'proxy-short';

const SECTIONS: Record<Section, string> = {
  tcp: 'TCP echo over kept connections (64-byte lines, one outstanding per connection)',
  udp: 'UDP echo (64-byte datagrams, one outstanding per socket)',
  unix: 'Unix stream echo over kept connections (socket file in a temp dir)',
  unixdgram:
    'Unix datagram echo (64-byte datagrams, one outstanding per client socket, each bound to its own path)',
  'tcp-short': 'TCP short connections (connect, one 64-byte line, read the echo, close)',
  'unix-short': 'Unix stream short connections (connect, one line, read the echo, close)',
  cpu: 'CPU-bound handler over kept TCP connections (each line: about 5 ms of SHA-256, then the echo)',
  tls: 'TLS echo over kept connections (64-byte lines; Node generator: the native one has no TLS)',
  'tls-short':
    'TLS short connections (connect, full handshake, one line, read the echo, close; Node generator)',
  'proxy-short':
    'TCP short connections with and without a PROXY protocol header (connect, header, one line, read the echo, close)',
};

/**
 * The PROXY header the `proxy-short` rows send: version 2, TCP over IPv4,
 * from 192.0.2.1:50000 to 127.0.0.1:443 (28 bytes); version 1 the same.
 */
const PROXY_V2 = '0d0a0d0a000d0a515549540a2111000c' + 'c0000201' + '7f000001' + 'c350' + '01bb';
const PROXY_V1 = Buffer.from('PROXY TCP4 192.0.2.1 127.0.0.1 50000 443\r\n').toString('hex');

function rows(): EchoRow[] {
  const K = settings.keptConnections;
  const F = settings.forkingConnections;
  const S = settings.shortConcurrency;
  const list: EchoRow[] = [];
  /**
   * Rows of one section: `add(name, label, server, connections, compare)` makes the row
   * `section:name`; `compare` names rows of the same section ([label, name]).
   */
  const sectionRows =
    (section: Section, transport: Transport, mode: EchoRow['mode']) =>
    (
      name: string,
      label: string,
      server: ServerSpec,
      connections: number,
      compare: Array<[string, string]> = [],
    ) =>
      list.push({
        id: `${section}:${name}`,
        section,
        label,
        server,
        transport,
        mode,
        connections,
        compare: compare.map(([text, other]) => [text, `${section}:${other}`]),
      });
  for (const [section, mode, n] of [
    ['tcp', 'kept', K],
    ['tcp-short', 'short', S],
  ] as const) {
    const add = sectionRows(section, 'tcp', mode);
    const vsRawAndPy: Array<[string, string]> = [
      ['raw node:net', 'raw'],
      ['py ThreadingTCPServer', 'py-threading'],
    ];
    add('raw', 'raw node:net (baseline)', { node: 'tcp-raw' }, n);
    add('evloop', 'EventLoopMixIn(TCPServer)', { node: 'tcp-evloop' }, n, vsRawAndPy);
    add('threading', 'ThreadingMixIn(TCPServer)', { node: 'tcp-threading' }, n, [
      ...vsRawAndPy,
      ['EventLoopMixIn', 'evloop'],
    ]);
    add('forking', 'ForkingMixIn(TCPServer)', { node: 'tcp-forking' }, n, [
      ['py ForkingTCPServer', 'py-forking'],
      ['EventLoopMixIn', 'evloop'],
    ]);
    add('py-threading', 'Python ThreadingTCPServer', { python: 'ThreadingTCPServer' }, n, [
      ['raw node:net', 'raw'],
    ]);
    add('py-forking', 'Python ForkingTCPServer', { python: 'ForkingTCPServer' }, F);
    add('raw-1', 'raw node:net, 1 connection', { node: 'tcp-raw' }, 1);
    add('plain', 'TCPServer (plain, one at a time), 1 connection', { node: 'tcp-plain' }, 1, [
      ['py TCPServer', 'py-plain'],
      ['raw node:net 1 conn', 'raw-1'],
    ]);
    add('py-plain', 'Python TCPServer, 1 connection', { python: 'TCPServer' }, 1, [
      ['raw node:net 1 conn', 'raw-1'],
    ]);
  }
  {
    const add = sectionRows('udp', 'udp', 'kept');
    const vsRawAndPy: Array<[string, string]> = [
      ['raw node:dgram', 'raw'],
      ['py UDPServer', 'py-plain'],
    ];
    add('raw', 'raw node:dgram (baseline)', { node: 'udp-raw' }, K);
    add('evloop', 'EventLoopMixIn(UDPServer)', { node: 'udp-evloop' }, K, vsRawAndPy);
    add('plain', 'UDPServer (plain)', { node: 'udp-plain' }, K, vsRawAndPy);
    add('threading', 'ThreadingMixIn(UDPServer)', { node: 'udp-threading' }, K, [
      ['raw node:dgram', 'raw'],
      ['py ThreadingUDPServer', 'py-threading'],
    ]);
    add('forking', 'ForkingMixIn(UDPServer)', { node: 'udp-forking' }, F, [
      ['py ForkingUDPServer', 'py-forking'],
    ]);
    add('py-plain', 'Python UDPServer', { python: 'UDPServer' }, K, [['raw node:dgram', 'raw']]);
    add('py-threading', 'Python ThreadingUDPServer', { python: 'ThreadingUDPServer' }, K);
    add('py-forking', 'Python ForkingUDPServer', { python: 'ForkingUDPServer' }, F);
  }
  for (const [section, mode, n] of [
    ['unix', 'kept', K],
    ['unix-short', 'short', S],
  ] as const) {
    const add = sectionRows(section, 'unix', mode);
    const vsRawAndPy: Array<[string, string]> = [
      ['raw node:net', 'raw'],
      ['py ThreadingUnixStreamServer', 'py-threading'],
    ];
    add('raw', 'raw node:net on a path (baseline)', { node: 'unix-raw' }, n);
    add('evloop', 'EventLoopMixIn(UnixStreamServer)', { node: 'unix-evloop' }, n, vsRawAndPy);
    add('threading', 'ThreadingMixIn(UnixStreamServer)', { node: 'unix-threading' }, n, vsRawAndPy);
    add('forking', 'ForkingMixIn(UnixStreamServer)', { node: 'unix-forking' }, n, [
      ['raw node:net', 'raw'],
    ]);
    add(
      'py-threading',
      'Python ThreadingUnixStreamServer',
      { python: 'ThreadingUnixStreamServer' },
      n,
      [['raw node:net', 'raw']],
    );
    if (mode === 'kept') {
      add('raw-1', 'raw node:net on a path, 1 connection', { node: 'unix-raw' }, 1);
      add('plain', 'UnixStreamServer (plain), 1 connection', { node: 'unix-plain' }, 1, [
        ['py UnixStreamServer', 'py-plain'],
        ['raw node:net 1 conn', 'raw-1'],
      ]);
      add('py-plain', 'Python UnixStreamServer, 1 connection', { python: 'UnixStreamServer' }, 1);
    }
  }
  for (const [section, mode, n] of [
    ['tls', 'kept', K],
    ['tls-short', 'short', S],
  ] as const) {
    const add = sectionRows(section, 'tcp', mode);
    const tls = (id: string) => list.find((row) => row.id === `${section}:${id}`)!;
    add('raw', 'raw node:tls (baseline)', { node: 'tls-raw' }, n);
    add('evloop', 'EventLoopMixIn(TLSServer)', { node: 'tls-evloop' }, n, [
      ['raw node:tls', 'raw'],
    ]);
    const vsEventLoop: Array<[string, string]> = [['EventLoopMixIn', 'evloop']];
    add('threading', 'ThreadingMixIn(TLSServer)', { node: 'tls-threading' }, n, vsEventLoop);
    add('forking', 'ForkingMixIn(TLSServer)', { node: 'tls-forking' }, n, vsEventLoop);
    for (const id of ['raw', 'evloop', 'threading', 'forking']) tls(id).tls = true;
  }
  {
    const add = sectionRows('proxy-short', 'tcp', 'short');
    const row = (id: string) => list.find((entry) => entry.id === `proxy-short:${id}`)!;
    add('off', 'EventLoopMixIn(TCPServer), no PROXY header (baseline)', { node: 'tcp-evloop' }, S);
    add('v2', 'EventLoopMixIn(TCPServer), proxyProtocol, v2 header', { node: 'tcp-evloop' }, S, [
      ['without PROXY', 'off'],
    ]);
    add('v1', 'EventLoopMixIn(TCPServer), proxyProtocol, v1 header', { node: 'tcp-evloop' }, S, [
      ['without PROXY', 'off'],
    ]);
    Object.assign(row('v2'), { prefix: PROXY_V2, settings: { proxyProtocol: true } });
    Object.assign(row('v1'), { prefix: PROXY_V1, settings: { proxyProtocol: true } });
  }
  {
    // 8 client sockets: fewer than net.unix.max_dgram_qlen (10), so that a server's receive
    // queue never refuses a datagram (EAGAIN) and the rows measure the servers, not retries.
    const D = smoke ? 4 : 8;
    const add = sectionRows('unixdgram', 'unixdgram', 'kept');
    const vsRawAndPy: Array<[string, string]> = [
      ['raw unix dgram', 'raw'],
      ['py UnixDatagramServer', 'py-plain'],
    ];
    add('raw', 'raw UnixDatagramSocket (baseline)', { node: 'unixdgram-raw' }, D);
    add(
      'evloop',
      'EventLoopMixIn(UnixDatagramServer)',
      { node: 'unixdgram-evloop' },
      D,
      vsRawAndPy,
    );
    add('plain', 'UnixDatagramServer (plain)', { node: 'unixdgram-plain' }, D, vsRawAndPy);
    add('threading', 'ThreadingMixIn(UnixDatagramServer)', { node: 'unixdgram-threading' }, D, [
      ['raw unix dgram', 'raw'],
      ['py ThreadingUnixDatagramServer', 'py-threading'],
    ]);
    add('forking', 'ForkingMixIn(UnixDatagramServer)', { node: 'unixdgram-forking' }, D, [
      ['raw unix dgram', 'raw'],
    ]);
    add('py-plain', 'Python UnixDatagramServer', { python: 'UnixDatagramServer' }, D, [
      ['raw unix dgram', 'raw'],
    ]);
    add(
      'py-threading',
      'Python ThreadingUnixDatagramServer',
      { python: 'ThreadingUnixDatagramServer' },
      D,
    );
  }
  {
    // A handler whose work dwarfs the I/O: what worker threads and children are for.
    const add = sectionRows('cpu', 'tcp', 'kept');
    const C = smoke ? 2 : 8;
    const cpu = (name: string, label: string, node: NodeKind, compare: Array<[string, string]>) => {
      add(name, label, { node }, C, compare);
      list[list.length - 1]!.handler = 'cpu';
    };
    cpu('evloop', 'EventLoopMixIn(TCPServer), CPU-bound', 'tcp-evloop', []);
    cpu('threading', 'ThreadingMixIn(TCPServer), CPU-bound', 'tcp-threading', [
      ['EventLoopMixIn', 'evloop'],
    ]);
    cpu('forking', 'ForkingMixIn(TCPServer), CPU-bound', 'tcp-forking', [
      ['EventLoopMixIn', 'evloop'],
    ]);
  }
  return list.filter((row) => selected(row.id));
}

/** SHA-256 rounds that take about 5 ms here (the CPU-bound rows' work per request), measured once. */
let hashRounds = 0;

/** Times `burn` in this process, once warm: rounds per 5 ms, the fastest of eight trials of 10,000. */
function calibrateHashRounds(): number {
  const trial = 10_000;
  let best = 0;
  for (let i = 0; i < 8; i++) {
    const start = performance.now();
    burn(trial);
    // The fastest trial: the others were slowed down by a cold JIT or a busy machine.
    best = Math.max(best, trial / (performance.now() - start));
  }
  return Math.max(1, Math.round(best * 5));
}

/** Whether `--only` (comma-separated substrings of row ids) selects this id; everything without it. */
function selected(id: string): boolean {
  const only = flags.only;
  return only === undefined || only.split(',').some((part) => id.includes(part));
}

// ---------------------------------------------------------------- running

interface RowResult {
  status: 'ok' | 'unavailable' | 'failed';
  reason?: string;
  perSecond: number;
  p50: number;
  p99: number;
  completed: number;
  mismatches: number;
  lost: number;
  late: number;
  /** Unix datagrams sent again after EAGAIN (the server's receive queue was full). */
  retries: number;
  errors: number;
  errorCodes: Record<string, number>;
  connected: number;
  /** Generator CPU over the window, as a share of one core (1 = one core busy). */
  generatorCores: number;
  generatorCpuMs: number;
  /** Server CPU (its whole process group) over the window, in cores. */
  serverCores: number;
  /** Server CPU per completed request (µs): the framework's cost, whatever the generator manages. */
  serverMicrosPerRequest: number;
}

let tempDir = '';
let socketCounter = 0;

/** A unique prefix for one generator's Unix datagram client sockets (rows may run in parallel). */
function clientPathPrefix(): string {
  socketCounter++;
  return join(tempDir, `c${socketCounter}`);
}

let tlsIdentityDir: string | null = null;

/**
 * A directory with `cert.pem` and `key.pem` for the TLS rows, made once by
 * the `openssl` command (a P-256 key, like the tests'); `''` when openssl
 * failed.
 */
function tlsDir(): string {
  if (tlsIdentityDir !== null) return tlsIdentityDir;
  const dir = join(tempDir, 'tls');
  try {
    mkdirSync(dir);
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
      ].concat(['-keyout', 'key.pem', '-out', 'cert.pem', '-days', '1', '-subj', '/CN=localhost']),
      { cwd: dir, stdio: 'ignore' },
    );
    tlsIdentityDir = dir;
  } catch {
    tlsIdentityDir = '';
  }
  return tlsIdentityDir;
}

function socketPath(): string {
  socketCounter++;
  return join(tempDir, `s${socketCounter}.sock`);
}

/**
 * Settings given to @socketserver servers: the CPU-bound rows' work, and
 * `--settings`, for experiments (the report says so).
 */
function serverSettings(row: EchoRow): Record<string, unknown> {
  const extra = {
    ...row.settings,
    ...(JSON.parse(flags.settings ?? '{}') as Record<string, unknown>),
  };
  return row.handler === 'cpu' ? { hashRounds, ...extra } : extra;
}

function serverCommand(
  spec: ServerSpec,
  path: string | undefined,
  settings: Record<string, unknown> = {},
  handler?: 'cpu',
): [string, string[]] {
  if ('python' in spec) {
    return [
      'python3',
      [resolve(benchDir, 'python', 'echo_server.py'), spec.python, ...(path ? [path] : [])],
    ];
  }
  return [
    process.execPath,
    [
      resolve(benchDir, 'dist', 'echo-server.js'),
      spec.node,
      ...(path ? ['--path', path] : []),
      ...(spec.node.startsWith('tls-') ? ['--tls-dir', tlsDir()] : []),
      '--settings',
      JSON.stringify(settings),
      ...(handler ? ['--handler', handler] : []),
    ],
  ];
}

function failedResult(status: 'unavailable' | 'failed', reason: string): RowResult {
  return {
    status,
    reason,
    perSecond: Number.NaN,
    p50: Number.NaN,
    p99: Number.NaN,
    completed: 0,
    mismatches: 0,
    lost: 0,
    late: 0,
    retries: 0,
    errors: 0,
    errorCodes: {},
    connected: 0,
    generatorCores: Number.NaN,
    generatorCpuMs: Number.NaN,
    serverCores: Number.NaN,
    serverMicrosPerRequest: Number.NaN,
  };
}

/** Splits `n` connections over at most `g` generator processes. */
function split(n: number, g: number): number[] {
  const count = Math.max(1, Math.min(g, n));
  return Array.from({ length: count }, (_, i) => Math.floor(n / count) + (i < n % count ? 1 : 0));
}

async function runEcho(row: EchoRow): Promise<RowResult> {
  if (row.tls && tlsDir() === '') {
    return failedResult('unavailable', 'no certificate: the openssl command failed or is missing');
  }
  if (row.transport === 'unixdgram') {
    // The generator needs the addon too, whatever the server is.
    const missing = unixDgramUnavailable();
    if (missing !== null) return failedResult('unavailable', missing);
  }
  const path = row.transport.startsWith('unix') ? socketPath() : undefined;
  let server: ServerHandle;
  try {
    const [command, args] = serverCommand(row.server, path, serverSettings(row), row.handler);
    server = await startServer(command, args);
  } catch (error) {
    if (error instanceof ServerStartError) return failedResult(error.kind, error.message);
    return failedResult('failed', String(error));
  }
  const generators = split(row.connections, settings.generators).map((connections, index) => {
    const config: LoadConfig = {
      mode: row.mode,
      transport: row.transport,
      host: server.ready.host,
      port: server.ready.port,
      path: server.ready.path,
      clientPath: clientPathPrefix(),
      connections,
      lineLength: settings.lineLength,
      warmupMs: settings.warmupMs,
      durationMs: settings.durationMs,
      graceMs: settings.graceMs,
      replyTimeoutMs: 1000,
      connectTimeoutMs: 15_000,
      connectParallelism: 4,
      seed: 1 + index * 7919 + socketCounter * 104729,
      ...(row.prefix === undefined ? {} : { prefix: row.prefix }),
      ...(row.tls ? { tls: true } : {}),
    };
    const total =
      config.connectTimeoutMs + config.warmupMs + config.durationMs + config.graceMs + 15_000;
    return startGenerator(config, total, row.tls ? 'node' : generator.kind);
  });
  const serverCpu = { start: Number.NaN, end: Number.NaN };
  generators[0]!.onWindow((phase) => {
    serverCpu[phase] = groupCpuMs(server.ready.pid);
  });
  try {
    await Promise.all(generators.map((generator) => generator.ready));
    for (const generator of generators) generator.send({ type: 'start' });
    const results = await Promise.all(generators.map((generator) => generator.result));
    const summary = summarize(results);
    const windowMs = Math.max(...results.map((result) => result.windowMs));
    const cpuMs = serverCpu.end - serverCpu.start;
    summary.serverCores = cpuMs / windowMs;
    summary.serverMicrosPerRequest = (cpuMs * 1000) / Math.max(1, summary.completed);
    return summary;
  } catch (error) {
    return failedResult('failed', (error as Error).message);
  } finally {
    for (const generator of generators) generator.kill();
    await server.stop();
  }
}

function summarize(results: ResultMessage[]): RowResult {
  const histogram = new Histogram();
  const sum = (pick: (result: ResultMessage) => number) =>
    results.reduce((total, result) => total + pick(result), 0);
  const errorCodes: Record<string, number> = {};
  for (const result of results) {
    histogram.merge(result.histogram);
    for (const [code, count] of Object.entries(result.errorCodes)) {
      errorCodes[code] = (errorCodes[code] ?? 0) + count;
    }
  }
  const windowMs = Math.max(...results.map((result) => result.windowMs));
  const cpuUs = sum((result) => result.cpuUserUs + result.cpuSystemUs);
  return {
    status: 'ok',
    perSecond: (sum((result) => result.completed) / windowMs) * 1000,
    p50: histogram.quantile(0.5),
    p99: histogram.quantile(0.99),
    completed: sum((result) => result.completed),
    mismatches: sum((result) => result.mismatches),
    lost: sum((result) => result.lost),
    late: sum((result) => result.late),
    retries: sum((result) => result.retries ?? 0),
    errors: sum((result) => result.errors),
    errorCodes,
    connected: sum((result) => result.connected),
    generatorCores: cpuUs / 1000 / windowMs,
    generatorCpuMs: cpuUs / 1000,
    serverCores: Number.NaN,
    serverMicrosPerRequest: Number.NaN,
  };
}

/** The upper median of `items`, ordered by `key`. */
function upperMedian<T>(items: T[], key: (item: T) => number): T {
  const sorted = [...items].sort((a, b) => key(a) - key(b));
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Picks the round with the median rate (upper median). */
function median(results: RowResult[]): RowResult {
  const ok = results.filter((result) => result.status === 'ok');
  if (ok.length === 0) return results[0]!;
  const chosen = upperMedian(ok, (result) => result.perSecond);
  // Correctness counts add up over every round: one lost reply anywhere is reported.
  return {
    ...chosen,
    mismatches: ok.reduce((total, result) => total + result.mismatches, 0),
    lost: ok.reduce((total, result) => total + result.lost, 0),
    errors: ok.reduce((total, result) => total + result.errors, 0),
    late: ok.reduce((total, result) => total + result.late, 0),
    retries: ok.reduce((total, result) => total + result.retries, 0),
    errorCodes: ok.reduce<Record<string, number>>((codes, result) => {
      for (const [code, count] of Object.entries(result.errorCodes)) {
        codes[code] = (codes[code] ?? 0) + count;
      }
      return codes;
    }, {}),
  };
}

async function pool<T>(items: T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

// ---------------------------------------------------------------- memory

interface MemoryResult {
  id: string;
  label: string;
  status: 'ok' | 'unavailable' | 'failed';
  reason?: string;
  connections: number;
  rssBefore: number;
  rssAfter: number;
  perConnection: number;
  /** V8 heap used per connection (bytes), from process.memoryUsage() after gc. */
  heapPerConnection: number;
  /** V8 heap reserved (heapTotal) per connection (bytes). */
  heapTotalPerConnection: number;
  /** Buffers outside the V8 heap per connection (external + arrayBuffers, bytes). */
  externalPerConnection: number;
  serverConnections: number;
  /** VmRSS of the server's whole process group (threads are in it; children are added), bytes. */
  treeBefore: number;
  treeAfter: number;
}

type MemoryUsage = { heapUsed: number; heapTotal: number; external: number; arrayBuffers: number };

async function memoryUsage(server: ServerHandle): Promise<MemoryUsage> {
  await server.command('gc', 'GC');
  return JSON.parse((await server.command('mem', 'MEM ')).slice(4)) as MemoryUsage;
}

/**
 * Memory rows. `connections`: a whole-server row, with that many idle
 * connections (threads and children included), for the memory goals of the worker and child modes.
 */
const MEMORY_ROWS: Array<{
  id: string;
  label: string;
  kind: NodeKind;
  baseline?: string;
  connections?: number;
}> = [
  { id: 'mem:tcp-raw', label: 'raw node:net TCP (baseline)', kind: 'tcp-raw' },
  {
    id: 'mem:tcp-evloop',
    label: 'EventLoopMixIn(TCPServer)',
    kind: 'tcp-evloop',
    baseline: 'mem:tcp-raw',
  },
  { id: 'mem:unix-raw', label: 'raw node:net on a path (baseline)', kind: 'unix-raw' },
  {
    id: 'mem:unix-evloop',
    label: 'EventLoopMixIn(UnixStreamServer)',
    kind: 'unix-evloop',
    baseline: 'mem:unix-raw',
  },
  {
    id: 'mem:tcp-evloop-1000',
    label: 'EventLoopMixIn(TCPServer)',
    kind: 'tcp-evloop',
    connections: 1000,
  },
  {
    id: 'mem:tcp-threading',
    label: 'ThreadingMixIn(TCPServer)',
    kind: 'tcp-threading',
    connections: 1000,
  },
  {
    id: 'mem:tcp-forking',
    label: 'ForkingMixIn(TCPServer)',
    kind: 'tcp-forking',
    connections: 1000,
  },
];

async function runMemory(
  row: (typeof MEMORY_ROWS)[number],
  defaultCount: number,
): Promise<MemoryResult> {
  const wanted = smoke
    ? Math.min(row.connections ?? defaultCount, defaultCount)
    : (row.connections ?? defaultCount);
  const base = {
    id: row.id,
    label: row.label,
    connections: 0,
    rssBefore: 0,
    rssAfter: 0,
    perConnection: Number.NaN,
    heapPerConnection: Number.NaN,
    heapTotalPerConnection: Number.NaN,
    externalPerConnection: Number.NaN,
    serverConnections: 0,
    treeBefore: 0,
    treeAfter: 0,
  };
  const limits = openFileLimits();
  const need = wanted + 200;
  let shell: string | undefined;
  if (limits.soft < need) {
    if (limits.hard < need) {
      return {
        ...base,
        status: 'failed',
        reason: `open-file limit ${limits.hard} < ${need}; raise ulimit -n`,
      };
    }
    shell = `ulimit -n ${need} && exec "$0" "$@"`;
  }
  const path = row.kind.startsWith('unix') ? socketPath() : undefined;
  let server: ServerHandle;
  try {
    server = await startServer(
      process.execPath,
      [
        '--expose-gc',
        resolve(benchDir, 'dist', 'echo-server.js'),
        row.kind,
        ...(path ? ['--path', path] : []),
      ],
      shell === undefined ? {} : { shell },
    );
  } catch (error) {
    const kind = error instanceof ServerStartError ? error.kind : 'failed';
    return { ...base, status: kind, reason: (error as Error).message };
  }
  // Each generator process holds fewer connections than this process's open-file limit.
  const perGenerator = Math.max(100, Math.min(limits.soft, 1e9) - 200);
  const parts = split(wanted, Math.max(2, Math.ceil(wanted / perGenerator)));
  const generators = parts.map((connections, index) =>
    startGenerator(
      {
        mode: 'hold',
        transport: row.kind.startsWith('unix') ? 'unix' : 'tcp',
        host: server.ready.host,
        port: server.ready.port,
        path: server.ready.path,
        connections,
        lineLength: settings.lineLength,
        warmupMs: 0,
        durationMs: 0,
        graceMs: 0,
        replyTimeoutMs: 1000,
        connectTimeoutMs: smoke ? 15_000 : 60_000,
        connectParallelism: 32,
        seed: 1000 + index,
      },
      smoke ? 30_000 : 90_000,
      generator.kind,
    ),
  );
  try {
    const before = await memoryUsage(server);
    const rssBefore = server.rss();
    const treeBefore = server.groupRss();
    const ready = await Promise.all(generators.map((generator) => generator.ready));
    const connected = ready.reduce((total, message) => total + message.connected, 0);
    const serverConnections = Number((await server.command('conns', 'CONNS')).split(' ')[1]);
    const after = await memoryUsage(server);
    const rssAfter = server.rss();
    const treeAfter = server.groupRss();
    for (const generator of generators) generator.send({ type: 'release' });
    const results = await Promise.all(generators.map((generator) => generator.result));
    const mismatches = results.reduce((total, result) => total + result.mismatches, 0);
    return {
      ...base,
      status: connected === wanted && mismatches === 0 ? 'ok' : 'failed',
      reason:
        connected === wanted && mismatches === 0
          ? undefined
          : `${connected}/${wanted} connections held, ${mismatches} mismatches`,
      connections: connected,
      rssBefore,
      rssAfter,
      perConnection: (rssAfter - rssBefore) / Math.max(1, connected),
      heapPerConnection: (after.heapUsed - before.heapUsed) / Math.max(1, connected),
      heapTotalPerConnection: (after.heapTotal - before.heapTotal) / Math.max(1, connected),
      externalPerConnection:
        (after.external + after.arrayBuffers - before.external - before.arrayBuffers) /
        Math.max(1, connected),
      serverConnections,
      treeBefore,
      treeAfter,
    };
  } catch (error) {
    return { ...base, status: 'failed', reason: (error as Error).message };
  } finally {
    for (const generator of generators) generator.kill();
    await server.stop();
  }
}

// ---------------------------------------------------------------- core alone

const MICRO_CASES: Array<{ id: string; label: string }> = [
  {
    id: 'dgram-plain',
    label: 'datagram request, plain `DatagramServer` (fake transport, 50 at a time)',
  },
  {
    id: 'dgram-evloop',
    label: 'datagram request, `EventLoopMixIn(DatagramServer)` (fake transport, 50 at a time)',
  },
  {
    id: 'dgram-evloop-single',
    label: 'the same, one datagram at a time (the serve loop idle when each arrives)',
  },
  {
    id: 'lines-forawait',
    label: '64-byte line through `Reader`, `for await (const line of rfile)`',
  },
  { id: 'lines-readline', label: '64-byte line through `Reader`, `await rfile.readline()`' },
];

interface MicroResult {
  id: string;
  label: string;
  /** Median over the runs, ns of CPU per operation; NaN when it failed. */
  nsPerOp: number;
  runs: number[];
  /** Median over the runs, heap bytes allocated per operation; NaN when it failed. */
  bytesPerOp: number;
  bytesRuns: number[];
  reason?: string;
}

function runMicro(id: string, count: number): Promise<{ nsPerOp: number; bytesPerOp: number }> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      process.execPath,
      [resolve(benchDir, 'dist', 'micro.js'), id, String(count)],
      { timeout: 60_000 },
      (error, stdout, stderr) => {
        const line = stdout.split('\n').find((text) => text.startsWith('MICRO '));
        if (error || line === undefined) {
          reject(new Error(`${error?.message ?? 'no result'} ${stderr.trim().slice(-200)}`));
          return;
        }
        resolvePromise(JSON.parse(line.slice(6)) as { nsPerOp: number; bytesPerOp: number });
      },
    );
  });
}

async function runMicros(): Promise<MicroResult[]> {
  const count = smoke ? 5_000 : 200_000;
  const repeats = smoke ? 1 : 5;
  const results: MicroResult[] = MICRO_CASES.map((entry) => ({
    ...entry,
    nsPerOp: Number.NaN,
    runs: [],
    bytesPerOp: Number.NaN,
    bytesRuns: [],
  }));
  try {
    // Alternate the cases, so that a busy moment of the machine does not fall on one of them.
    for (let round = 0; round < repeats; round++) {
      for (const result of results) {
        const { nsPerOp, bytesPerOp } = await runMicro(result.id, count);
        result.runs.push(nsPerOp);
        result.bytesRuns.push(bytesPerOp);
      }
    }
    for (const result of results) {
      result.nsPerOp = upperMedian(result.runs, (ns) => ns);
      result.bytesPerOp = upperMedian(result.bytesRuns, (bytes) => bytes);
    }
  } catch (error) {
    for (const result of results) result.reason ??= (error as Error).message;
  }
  return results;
}

// ---------------------------------------------------------------- report

const fmt = {
  rate: (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-'),
  micros: (n: number) =>
    Number.isFinite(n) ? (n >= 1000 ? `${(n / 1000).toFixed(2)} ms` : `${Math.round(n)} µs`) : '-',
  ratio: (n: number) => (Number.isFinite(n) ? `${n.toFixed(2)}x` : '-'),
  cpu: (n: number) => (Number.isFinite(n) ? `${n.toFixed(1)} µs` : '-'),
  bytes: (n: number) =>
    Number.isFinite(n)
      ? n >= 1024 * 1024
        ? `${(n / 1024 / 1024).toFixed(1)} MiB`
        : `${(n / 1024).toFixed(2)} KiB`
      : '-',
};

interface Goal {
  text: string;
  measured: number;
  target: number;
  /** `min`: measured must be at least target; `max`: at most. */
  kind: 'min' | 'max';
  detail: string;
  available: boolean;
}

function report(
  echo: Map<string, RowResult>,
  list: EchoRow[],
  memory: MemoryResult[],
  micro: MicroResult[],
  started: Date,
  seconds: number,
): { markdown: string; goals: Goal[] } {
  const out: string[] = [];
  const rate = (id: string) => echo.get(id)?.perSecond ?? Number.NaN;
  out.push(
    `# @socketserver benchmark${smoke ? ' (SMOKE PASS: tiny durations, numbers meaningless)' : ''}`,
  );
  out.push('');
  out.push(
    `${started.toISOString()}, Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}; ` +
      `warm-up ${settings.warmupMs} ms, window ${settings.durationMs} ms, ${settings.rounds} round(s) (median shown), ` +
      `${settings.generators} load generator process(es) per row, generator: ${generator.note}; ` +
      `CPU-bound rows: ${hashRounds} SHA-256 rounds per request; whole run ${seconds.toFixed(0)} s.`,
  );
  out.push('');
  out.push(
    'Ratios compare rates measured in this same run. p50/p99: request latency (kept: one round trip; short: connect to close). ' +
      '"server CPU": CPU the server\'s whole process group used during the window, in cores, and per request ' +
      '(with its ratio to the first row compared), which does not depend on how much load the generator manages. ' +
      '"gen CPU": CPU the load generator processes used during the window, in cores. ' +
      '"bad": mismatched replies / lost replies / connection errors (goal 0/0/0).',
  );
  for (const section of Object.keys(SECTIONS) as Section[]) {
    const sectionRows = list.filter((row) => row.section === section);
    if (sectionRows.length === 0) continue;
    const unit = section.endsWith('short') ? 'conns/s' : 'round trips/s';
    out.push('', `## ${SECTIONS[section]}`, '');
    out.push(
      `| server | conns | ${unit} | p50 | p99 | ratios | bad | server CPU | server CPU/req | gen CPU |`,
    );
    out.push('|---|--:|--:|--:|--:|---|--:|--:|--:|--:|');
    for (const row of sectionRows) {
      const result = echo.get(row.id);
      if (result === undefined) continue;
      if (result.status !== 'ok') {
        out.push(
          `| ${row.label} | ${row.connections} | ${result.status === 'unavailable' ? 'not available' : 'FAILED'}: ${result.reason ?? ''} | | | | | | | |`,
        );
        continue;
      }
      const first = row.compare[0] ? echo.get(row.compare[0][1]) : undefined;
      const perRequest =
        first !== undefined && Number.isFinite(first.serverMicrosPerRequest)
          ? `${fmt.cpu(result.serverMicrosPerRequest)} (${fmt.ratio(result.serverMicrosPerRequest / first.serverMicrosPerRequest)})`
          : fmt.cpu(result.serverMicrosPerRequest);
      const ratios = row.compare
        .map(([label, id]) => {
          const other = rate(id);
          return Number.isFinite(other) ? `${fmt.ratio(result.perSecond / other)} ${label}` : '';
        })
        .filter((text) => text !== '')
        .join('; ');
      const codes = Object.entries(result.errorCodes)
        .map(([code, count]) => `${code}×${count}`)
        .join(' ');
      const bad = `${result.mismatches}/${result.lost}/${result.errors}${codes ? ` (${codes})` : ''}${result.late ? `, ${result.late} late` : ''}${result.retries ? `, ${result.retries} EAGAIN retries` : ''}`;
      const conns =
        result.connected === row.connections || row.mode === 'short'
          ? `${row.connections}`
          : `${result.connected}/${row.connections}`;
      out.push(
        `| ${row.label} | ${conns} | ${fmt.rate(result.perSecond)} | ${fmt.micros(result.p50)} | ${fmt.micros(result.p99)} | ${ratios} | ${bad} | ${result.serverCores.toFixed(2)} | ${perRequest} | ${result.generatorCores.toFixed(2)} |`,
      );
    }
  }
  const whole = (result: MemoryResult) =>
    MEMORY_ROWS.find((row) => row.id === result.id)?.connections !== undefined;
  const perConnection = memory.filter((result) => !whole(result));
  if (perConnection.length > 0) {
    out.push(
      '',
      `## Resident memory per idle open connection (${settings.memoryConnections.toLocaleString('en-US')} connections, server in its own process, VmRSS after gc)`,
      '',
    );
    out.push(
      '| server | connections held | RSS before | RSS with connections | RSS per connection | ratio | V8 heap used / total per conn | buffers per conn |',
    );
    out.push('|---|--:|--:|--:|--:|--:|--:|--:|');
    for (const result of perConnection) {
      if (result.status !== 'ok') {
        out.push(
          `| ${result.label} | ${result.status === 'unavailable' ? 'not available' : 'FAILED'}: ${result.reason ?? ''} | | | | | | |`,
        );
        continue;
      }
      const baseline = MEMORY_ROWS.find((row) => row.id === result.id)?.baseline;
      const other = memory.find((entry) => entry.id === baseline);
      const ratio =
        other && other.status === 'ok'
          ? `${fmt.ratio(result.perConnection / other.perConnection)} raw`
          : '';
      out.push(
        `| ${result.label} | ${result.connections} | ${fmt.bytes(result.rssBefore)} | ${fmt.bytes(result.rssAfter)} | ${fmt.bytes(result.perConnection)} | ${ratio} | ${fmt.bytes(result.heapPerConnection)} / ${fmt.bytes(result.heapTotalPerConnection)} | ${fmt.bytes(result.externalPerConnection)} |`,
      );
    }
  }
  const wholeServer = memory.filter(whole);
  if (wholeServer.length > 0) {
    out.push(
      '',
      '## Resident memory of the whole server with idle connections (its worker threads and child processes included)',
      '',
      '| server | connections held | RSS before (process group) | RSS with connections | per connection |',
      '|---|--:|--:|--:|--:|',
    );
    for (const result of wholeServer) {
      out.push(
        result.status === 'ok'
          ? `| ${result.label} | ${result.connections} | ${fmt.bytes(result.treeBefore)} | ${fmt.bytes(result.treeAfter)} | ${fmt.bytes((result.treeAfter - result.treeBefore) / Math.max(1, result.connections))} |`
          : `| ${result.label} | ${result.status === 'unavailable' ? 'not available' : 'FAILED'}: ${result.reason ?? ''} | | | |`,
      );
    }
  }
  if (micro.length > 0) {
    out.push(
      '',
      '## Core alone, without sockets (per operation in one process, median of the runs)',
      '',
      'Steadier than the rates above on a shared machine: a regression in core shows here first. ' +
        'Run by `dist/micro.js` in a fresh process per run. Heap bytes allocated (live at the end plus ' +
        'freed by each garbage collection) hardly move with the load on the machine; CPU time does.',
      '',
    );
    out.push('| operation | ns of CPU | runs | heap bytes allocated |');
    out.push('|---|--:|---|--:|');
    for (const result of micro) {
      const cpu = Number.isFinite(result.nsPerOp)
        ? Math.round(result.nsPerOp).toLocaleString('en-US')
        : `FAILED: ${result.reason ?? ''}`;
      const bytes = Number.isFinite(result.bytesPerOp)
        ? Math.round(result.bytesPerOp).toLocaleString('en-US')
        : '';
      out.push(
        `| ${result.label} | ${cpu} | ${result.runs.map((ns) => Math.round(ns)).join(', ')} | ${bytes} |`,
      );
    }
  }
  out.push('', '## HTTP file server', '');
  const httpBench = resolve(benchDir, '..', 'apps', 'http-file-server', 'bench', 'run.mjs');
  out.push(
    existsSync(httpBench)
      ? 'Not measured here: the HTTP file server has its own benchmark (wrk against sirv, nginx and others, ' +
          'each peer reported as skipped when not installed): `pnpm --filter socketserver-http run bench` ' +
          '(`apps/http-file-server/bench/run.mjs`), with its table in `apps/http-file-server/README.md` § Benchmarks.'
      : 'Not measured here, and `apps/http-file-server/bench/run.mjs` does not exist yet.',
  );

  // Goals.
  const goals: Goal[] = [];
  const ratioGoal = (text: string, id: string, base: string, target: number) => {
    const a = rate(id);
    const b = rate(base);
    goals.push({
      text,
      measured: a / b,
      target,
      kind: 'min',
      detail: `${fmt.rate(a)} vs ${fmt.rate(b)}`,
      available: Number.isFinite(a / b) && b > 0,
    });
  };
  ratioGoal('event-loop TCP round trips ≥ 0.95x raw node:net', 'tcp:evloop', 'tcp:raw', 0.95);
  {
    const a = echo.get('tcp:evloop')?.p99 ?? Number.NaN;
    const b = echo.get('tcp:raw')?.p99 ?? Number.NaN;
    goals.push({
      text: 'event-loop TCP p99 no worse than raw node:net',
      measured: a / b,
      target: 1,
      kind: 'max',
      detail: `${fmt.micros(a)} vs ${fmt.micros(b)}`,
      available: Number.isFinite(a / b),
    });
  }
  ratioGoal('event-loop UDP ≥ 0.9x raw node:dgram', 'udp:evloop', 'udp:raw', 0.9);
  ratioGoal(
    'event-loop Unix stream ≥ 0.95x raw node:net on a path',
    'unix:evloop',
    'unix:raw',
    0.95,
  );
  for (const [id, base, what] of [
    ['mem:tcp-evloop', 'mem:tcp-raw', 'TCP'],
    ['mem:unix-evloop', 'mem:unix-raw', 'Unix'],
  ] as const) {
    const a = memory.find((entry) => entry.id === id);
    const b = memory.find((entry) => entry.id === base);
    const ok = a?.status === 'ok' && b?.status === 'ok';
    goals.push({
      text: `event-loop ${what} memory per idle connection ≤ 1.2x raw node:net`,
      measured: ok ? a.perConnection / b.perConnection : Number.NaN,
      target: 1.2,
      kind: 'max',
      detail: ok
        ? `${fmt.bytes(a.perConnection)} vs ${fmt.bytes(b.perConnection)}`
        : 'not measured',
      available: ok,
    });
  }
  ratioGoal(
    'event-loop TCP round trips ≥ 1.3x Python ThreadingTCPServer',
    'tcp:evloop',
    'tcp:py-threading',
    1.3,
  );
  ratioGoal(
    'event-loop TCP short connections ≥ 0.9x raw node:net',
    'tcp-short:evloop',
    'tcp-short:raw',
    0.9,
  );
  ratioGoal(
    'event-loop TCP short connections ≥ 2x Python ThreadingTCPServer',
    'tcp-short:evloop',
    'tcp-short:py-threading',
    2,
  );
  ratioGoal('event-loop UDP ≥ 1.1x Python UDPServer', 'udp:evloop', 'udp:py-plain', 1.1);
  ratioGoal(
    'TLS kept echo: EventLoopMixIn(TLSServer) ≥ 0.9x raw node:tls',
    'tls:evloop',
    'tls:raw',
    0.9,
  );
  ratioGoal(
    'TLS short connections: ThreadingMixIn(TLSServer) ≥ 1.6x EventLoopMixIn(TLSServer)',
    'tls-short:threading',
    'tls-short:evloop',
    1.6,
  );
  ratioGoal(
    'PROXY v2 on short TCP connections ≥ 0.95x the same server without it',
    'proxy-short:v2',
    'proxy-short:off',
    0.95,
  );
  ratioGoal(
    'event-loop Unix stream ≥ 1.4x Python ThreadingUnixStreamServer',
    'unix:evloop',
    'unix:py-threading',
    1.4,
  );
  ratioGoal(
    'plain TCPServer round trips (1 conn) ≥ Python TCPServer',
    'tcp:plain',
    'tcp:py-plain',
    1,
  );
  ratioGoal(
    'plain TCPServer short connections (1 at a time) ≥ Python TCPServer',
    'tcp-short:plain',
    'tcp-short:py-plain',
    1,
  );
  // Worker threads and child processes that own their connections.
  ratioGoal(
    'threading TCP round trips ≥ 2x Python ThreadingTCPServer',
    'tcp:threading',
    'tcp:py-threading',
    2,
  );
  ratioGoal(
    'threading TCP round trips ≥ 0.75x EventLoopMixIn',
    'tcp:threading',
    'tcp:evloop',
    0.75,
  );
  ratioGoal(
    'forking TCP round trips ≥ 1x Python ForkingTCPServer',
    'tcp:forking',
    'tcp:py-forking',
    1,
  );
  ratioGoal('forking TCP round trips ≥ 0.75x EventLoopMixIn', 'tcp:forking', 'tcp:evloop', 0.75);
  ratioGoal(
    'threading Unix stream round trips (bridged) ≥ 1x Python ThreadingUnixStreamServer',
    'unix:threading',
    'unix:py-threading',
    1,
  );
  ratioGoal(
    'threading CPU-bound requests ≥ 1.7x EventLoopMixIn',
    'cpu:threading',
    'cpu:evloop',
    1.7,
  );
  ratioGoal('forking CPU-bound requests ≥ 1.6x EventLoopMixIn', 'cpu:forking', 'cpu:evloop', 1.6);
  ratioGoal(
    'threading TCP short connections ≥ 1.5x Python ThreadingTCPServer',
    'tcp-short:threading',
    'tcp-short:py-threading',
    1.5,
  );
  ratioGoal(
    'forking TCP short connections ≥ 2x Python ForkingTCPServer',
    'tcp-short:forking',
    'tcp-short:py-forking',
    2,
  );
  for (const [id, limit] of [
    ['mem:tcp-threading', 250],
    ['mem:tcp-forking', 500],
  ] as const) {
    const result = memory.find((entry) => entry.id === id);
    const ok = result?.status === 'ok';
    const mib = ok ? result.treeAfter / 1024 / 1024 : Number.NaN;
    goals.push({
      text: `${id.endsWith('threading') ? 'threading' : 'forking'} whole server with ${result?.connections ?? 1000} idle TCP connections ≤ ${limit} MiB`,
      measured: mib,
      target: limit,
      kind: 'max',
      detail: ok ? `${fmt.bytes(result.treeAfter)} (process group RSS)` : 'not measured',
      available: ok,
    });
  }
  const ours = (id: string) => !/:(raw|py-)/.test(id);
  const losing = [...echo.entries()].filter(
    ([, result]) => result.status === 'ok' && result.mismatches + result.lost > 0,
  );
  const describe = (entries: typeof losing) =>
    entries
      .map(([id, result]) => `${id}: ${result.mismatches} mismatched, ${result.lost} lost`)
      .join('; ');
  const bad = losing.filter(([id]) => ours(id));
  const peers = losing.filter(([id]) => !ours(id));
  goals.push({
    text: 'no @socketserver mode loses a reply or a byte (mismatched + lost = 0 in every row)',
    measured: bad.length,
    target: 0,
    kind: 'max',
    detail:
      (bad.length === 0 ? 'all @socketserver rows clean' : describe(bad)) +
      (peers.length === 0 ? '' : ` (peers, for information: ${describe(peers)})`),
    available: echo.size > 0,
  });
  out.push('', '## Goals', '');
  out.push('| goal | measured | target | | detail |');
  out.push('|---|--:|--:|---|---|');
  for (const goal of goals) {
    const met = goal.kind === 'min' ? goal.measured >= goal.target : goal.measured <= goal.target;
    const status = !goal.available
      ? 'not measured'
      : met
        ? 'met'
        : goal.text.startsWith('no @socketserver')
          ? `**MISSED** in ${goal.measured} row(s)`
          : `**MISSED** by ${Math.abs(((goal.measured - goal.target) / (goal.target || 1)) * 100).toFixed(0)}%`;
    const mib = goal.text.endsWith('MiB');
    const measured = goal.text.startsWith('no @socketserver')
      ? String(goal.measured)
      : mib
        ? `${goal.measured.toFixed(0)} MiB`
        : fmt.ratio(goal.measured);
    const target = goal.text.startsWith('no @socketserver')
      ? '0'
      : `${goal.kind === 'min' ? '≥' : '≤'} ${mib ? `${goal.target} MiB` : fmt.ratio(goal.target)}`;
    out.push(
      `| ${goal.text} | ${goal.available ? measured : '-'} | ${target} | ${status} | ${goal.detail} |`,
    );
  }
  return { markdown: out.join('\n'), goals };
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  stopAllOnSignals();
  const started = new Date();
  const t0 = performance.now();
  tempDir = mkdtempSync(join(tmpdir(), 'ssbench-'));
  process.on('exit', () => rmSync(tempDir, { recursive: true, force: true }));
  const list = rows();
  if (list.some((row) => row.handler === 'cpu')) hashRounds = calibrateHashRounds();
  const rounds: Map<string, RowResult[]> = new Map(list.map((row) => [row.id, []]));
  for (let round = 1; round <= settings.rounds; round++) {
    // Alternate the order between rounds so that drift over time does not favour one side.
    const order = round % 2 === 1 ? list : [...list].reverse();
    await pool(order, settings.parallel, async (row) => {
      const result = await runEcho(row);
      rounds.get(row.id)!.push(result);
      const summary =
        result.status === 'ok'
          ? `${fmt.rate(result.perSecond)}/s p50 ${fmt.micros(result.p50)} p99 ${fmt.micros(result.p99)} bad ${result.mismatches}/${result.lost}/${result.errors} server ${result.serverCores.toFixed(2)} cores ${fmt.cpu(result.serverMicrosPerRequest)}/req gen ${result.generatorCores.toFixed(2)} cores ${fmt.cpu((result.generatorCpuMs * 1000) / Math.max(1, result.completed))}/req`
          : `${result.status}: ${result.reason}`;
      process.stderr.write(`[round ${round}] ${row.id.padEnd(24)} ${summary}\n`);
    });
  }
  const echo = new Map([...rounds].map(([id, results]) => [id, median(results)]));
  const memory: MemoryResult[] = [];
  if (
    !flags['no-memory'] &&
    (selected('mem:') || flags.only?.split(',').some((part) => part.startsWith('mem')))
  ) {
    const results = new Map<string, MemoryResult>();
    const memoryRows = MEMORY_ROWS.filter((row) => selected(row.id));
    await pool(memoryRows, smoke ? settings.parallel : 1, async (row) => {
      const result = await runMemory(row, settings.memoryConnections);
      results.set(row.id, result);
      process.stderr.write(
        `[memory] ${row.id.padEnd(24)} ${result.status === 'ok' ? `${fmt.bytes(result.perConnection)} per connection (${result.connections} held, server counts ${result.serverConnections})` : `${result.status}: ${result.reason}`}\n`,
      );
    });
    for (const row of memoryRows) memory.push(results.get(row.id)!);
  }
  const micro: MicroResult[] =
    flags.only === undefined || flags.only.split(',').includes('micro') ? await runMicros() : [];
  for (const result of micro) {
    process.stderr.write(
      `[micro] ${result.id.padEnd(25)} ${Number.isFinite(result.nsPerOp) ? `${Math.round(result.nsPerOp)} ns CPU, ${Math.round(result.bytesPerOp)} heap bytes per operation` : `failed: ${result.reason}`}\n`,
    );
  }
  const { markdown, goals } = report(
    echo,
    list,
    memory,
    micro,
    started,
    (performance.now() - t0) / 1000,
  );
  process.stdout.write(`${markdown}\n`);
  if (flags.json) {
    writeFileSync(
      flags.json,
      JSON.stringify(
        {
          started,
          smoke,
          settings,
          generator: generator.kind,
          rows: list.map((row) => ({ ...row, result: echo.get(row.id) })),
          memory,
          micro,
          goals,
        },
        null,
        2,
      ),
    );
  }
}

main()
  .catch((error) => {
    process.stderr.write(`bench: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  })
  .finally(() => killAll());
