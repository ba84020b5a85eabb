/**
 * The echo load generator: one process, started by the orchestrator with
 * `child_process.fork(loadgen.js, [JSON config])`. It opens its
 * connections, says `ready`, waits for `start`, runs warm-up and the
 * measured window, waits for outstanding replies, and sends its `result`.
 *
 * Every reply is checked byte for byte against the request it answers;
 * each request's bytes differ (seeded per process and connection), so a
 * reply sent on the wrong connection or out of order is a mismatch too.
 * The process exits when its parent goes away.
 *
 * @module
 */
import { createSocket, type Socket as DgramSocket } from 'node:dgram';
import { rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { connect as tlsConnect } from 'node:tls';
import { Histogram } from './histogram.js';
import type { ControlMessage, LoadConfig, ReadyMessage, ResultMessage } from './load-config.js';
import { createUnixDgramSocket } from './unix-dgram.js';

const ALPHABET = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_');
const LATE_MEMORY = 4096;

/** Counters shared by every connection of this process. */
class Stats {
  measuring = false;
  running = false;
  completed = 0;
  sent = 0;
  mismatches = 0;
  unexpectedBytes = 0;
  lost = 0;
  late = 0;
  retries = 0;
  errors = 0;
  errorCodes: Record<string, number> = {};
  histogram = new Histogram();

  error(error: unknown): void {
    this.errors++;
    const code = (error as { code?: string })?.code ?? 'ERROR';
    this.errorCodes[code] = (this.errorCodes[code] ?? 0) + 1;
  }
}

/** A xorshift32 generator of request lines. */
class LineMaker {
  #state: number;
  readonly length: number;

  constructor(seed: number, length: number) {
    this.#state = seed >>> 0 || 0x9e3779b9;
    this.length = Math.max(2, length);
  }

  next(): Buffer {
    const line = Buffer.allocUnsafe(this.length);
    let x = this.#state;
    for (let i = 0; i < this.length - 1; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      line[i] = ALPHABET[(x >>> 0) & 63]!;
    }
    this.#state = x >>> 0;
    line[this.length - 1] = 0x0a;
    return line;
  }
}

/**
 * Checks a byte stream against the request outstanding on it. Returns
 * through `onReply(ok)` each time a full reply's worth of bytes arrived.
 */
class StreamChecker {
  expect: Buffer | null = null;
  #got = 0;
  #bad = false;

  constructor(
    private readonly stats: Stats,
    private readonly onReply: (ok: boolean) => void,
  ) {}

  expectReply(line: Buffer): void {
    this.expect = line;
    this.#got = 0;
    this.#bad = false;
  }

  /** True while a request waits for (part of) its reply. */
  get outstanding(): boolean {
    return this.expect !== null;
  }

  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      const expect = this.expect;
      if (expect === null) {
        this.stats.mismatches++;
        this.stats.unexpectedBytes += chunk.length - offset;
        return;
      }
      const n = Math.min(expect.length - this.#got, chunk.length - offset);
      if (!this.#bad && chunk.compare(expect, this.#got, this.#got + n, offset, offset + n) !== 0) {
        this.#bad = true;
      }
      this.#got += n;
      offset += n;
      if (this.#got === expect.length) {
        this.expect = null;
        if (this.#bad) this.stats.mismatches++;
        this.onReply(!this.#bad);
      }
    }
  }
}

/**
 * Connects a stream; its `'go'` event says when lines may be sent (after
 * `config.prefix` is written, and with `config.tls` after the handshake).
 */
function streamConnect(config: LoadConfig): Socket {
  const raw =
    config.transport === 'unix'
      ? connect({ path: config.path! })
      : connect({ host: config.host ?? '127.0.0.1', port: config.port! });
  if (config.transport === 'tcp') raw.setNoDelay(true);
  const prefix = config.prefix ? Buffer.from(config.prefix, 'hex') : null;
  if (!config.tls) {
    raw.once('connect', () => {
      if (prefix === null) return raw.emit('go');
      // One segment with the first line, as HAProxy sends its PROXY header when data follows.
      raw.cork();
      raw.write(prefix);
      raw.emit('go');
      raw.uncork();
    });
    return raw;
  }
  if (prefix !== null) raw.once('connect', () => raw.write(prefix));
  const socket = tlsConnect({ socket: raw, rejectUnauthorized: false, servername: 'localhost' });
  socket.once('secureConnect', () => socket.emit('go'));
  return socket;
}

/** A kept (or held) stream connection: one line outstanding at a time. */
class KeptStream {
  socket: Socket | null = null;
  /** True once the first echo came back correct: the connection takes part in the run. */
  ready = false;
  #checker: StreamChecker;
  #sentAt = 0;
  #closed = false;
  #firstReply: ((ok: boolean) => void) | null = null;

  constructor(
    private readonly config: LoadConfig,
    private readonly stats: Stats,
    private readonly lines: LineMaker,
    private readonly keepSending: boolean,
  ) {
    this.#checker = new StreamChecker(stats, (ok) => this.#reply(ok));
  }

  get outstanding(): boolean {
    return this.#checker.outstanding && !this.#closed;
  }

  /** Connects and checks one echo; resolves true when the connection is ready. */
  open(): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = streamConnect(this.config);
      this.socket = socket;
      this.#firstReply = resolve;
      socket.on('go', () => this.send());
      socket.on('data', (chunk: Buffer) => this.#checker.push(chunk));
      socket.on('error', (error) => {
        if (!this.#closed) this.stats.error(error);
      });
      socket.on('close', () => {
        if (!this.#closed && this.#checker.outstanding) this.stats.lost++;
        this.#closed = true;
        this.#firstReply?.(false);
        this.#firstReply = null;
      });
    });
  }

  send(): void {
    const socket = this.socket;
    if (socket === null || this.#closed) return;
    const line = this.lines.next();
    this.#checker.expectReply(line);
    this.stats.sent++;
    this.#sentAt = performance.now();
    socket.write(line);
  }

  #reply(ok: boolean): void {
    const first = this.#firstReply;
    if (first !== null) {
      this.#firstReply = null;
      this.ready = ok;
      first(ok);
      return;
    }
    if (ok && this.stats.measuring) {
      this.stats.completed++;
      this.stats.histogram.record((performance.now() - this.#sentAt) * 1000);
    }
    if (this.keepSending && this.stats.running) this.send();
    else this.#drained?.();
  }

  #drained: (() => void) | null = null;

  /** Resolves when no request is outstanding (or the connection is gone). */
  whenIdle(): Promise<void> {
    if (!this.outstanding) return Promise.resolve();
    return new Promise((resolve) => {
      this.#drained = resolve;
      this.socket?.once('close', () => resolve());
    });
  }

  /** Stops: an outstanding request now counts as lost. */
  close(): void {
    if (this.#closed) return;
    if (this.#checker.outstanding) this.stats.lost++;
    this.#closed = true;
    this.socket?.destroy();
  }
}

/** A short-connection slot: connect, one line, read the echo, close, again. */
class ShortSlot {
  #socket: Socket | null = null;
  #checker: StreamChecker | null = null;
  #idle: (() => void) | null = null;

  constructor(
    private readonly config: LoadConfig,
    private readonly stats: Stats,
    private readonly lines: LineMaker,
  ) {}

  get busy(): boolean {
    return this.#socket !== null;
  }

  next(): void {
    if (!this.stats.running) {
      this.#idle?.();
      return;
    }
    const startedAt = performance.now();
    const socket = streamConnect(this.config);
    this.#socket = socket;
    let replied = false;
    let sent = false;
    let failed = false;
    const checker = new StreamChecker(this.stats, (ok) => {
      replied = ok;
      socket.end();
    });
    this.#checker = checker;
    socket.on('go', () => {
      const line = this.lines.next();
      checker.expectReply(line);
      sent = true;
      this.stats.sent++;
      socket.write(line);
    });
    socket.on('data', (chunk: Buffer) => checker.push(chunk));
    socket.on('error', (error) => {
      failed = true;
      this.stats.error(error);
    });
    socket.on('close', () => {
      this.#socket = null;
      if (replied) {
        if (this.stats.measuring) {
          this.stats.completed++;
          this.stats.histogram.record((performance.now() - startedAt) * 1000);
        }
      } else if (sent && checker.outstanding && !failed) {
        this.stats.lost++;
      }
      // A refused connect (a full backlog on a Unix socket fails at once) is retried
      // after 1 ms, so that a tight retry loop does not steal the server's CPU.
      if (failed) setTimeout(() => this.next(), 1);
      else this.next();
    });
  }

  whenIdle(): Promise<void> {
    if (this.#socket === null) return Promise.resolve();
    return new Promise((resolve) => {
      this.#idle = resolve;
    });
  }

  /** Stops; a connection that sent its line and has no full reply counts as lost. */
  close(): void {
    const socket = this.#socket;
    if (socket === null) return;
    if (this.#checker?.outstanding) this.stats.lost++;
    socket.removeAllListeners('close');
    socket.on('error', () => {});
    this.#socket = null;
    socket.destroy();
  }
}

/** A UDP socket with one datagram outstanding; late replies are told apart from wrong ones. */
/** A datagram socket that talks to one server: UDP (node:dgram) or Unix (the unix-dgram addon). */
interface DatagramPort {
  open(): Promise<boolean>;
  send(line: Buffer, retry?: number): void;
  close(): void;
}

function udpPort(
  config: LoadConfig,
  stats: Stats,
  onMessage: (message: Buffer) => void,
): DatagramPort {
  const socket: DgramSocket = createSocket('udp4');
  socket.on('message', onMessage);
  socket.on('error', (error) => stats.error(error));
  return {
    open: () =>
      new Promise((resolve) => {
        socket.connect(config.port!, config.host ?? '127.0.0.1', () => resolve(true));
      }),
    send: (line) => socket.send(line),
    close: () => socket.close(),
  };
}

function unixDgramPort(
  config: LoadConfig,
  stats: Stats,
  index: number,
  onMessage: (message: Buffer) => void,
  current: () => Buffer | null,
): DatagramPort {
  const socket = createUnixDgramSocket();
  const path = `${config.clientPath}-${index}.sock`;
  const onError = (error?: Error) => stats.error(error);
  socket.on('message', (message) => onMessage(message));
  socket.on('error', onError);
  return {
    open: () => {
      try {
        socket.bind(path);
        return Promise.resolve(true);
      } catch (error) {
        stats.error(error);
        return Promise.resolve(false);
      }
    },
    send: function send(line: Buffer, retry = 0): void {
      try {
        socket.send(line, config.path!);
      } catch (error) {
        // The server's receive queue is full (net.unix.max_dgram_qlen, 10 by default): a
        // blocking client would wait in sendto, so wait a little and send again.
        if ((error as { code?: string }).code === 'EAGAIN' && retry < 1000) {
          stats.retries++;
          setTimeout(() => {
            if (current() === line) send(line, retry + 1);
          }, 1);
          return;
        }
        onError(error as Error);
      }
    },
    close: () => {
      try {
        socket.close();
      } catch {
        // already closed
      }
      rmSync(path, { force: true });
    },
  };
}

/** A datagram socket with one datagram outstanding; late replies are told apart from wrong ones. */
class DatagramFlow {
  #port: DatagramPort;
  #expect: Buffer | null = null;
  #sentAt = 0;
  #late = new Set<string>();
  #idle: (() => void) | null = null;

  constructor(
    private readonly config: LoadConfig,
    private readonly stats: Stats,
    private readonly lines: LineMaker,
    index: number,
  ) {
    const onMessage = (message: Buffer) => this.#receive(message);
    this.#port =
      config.transport === 'unixdgram'
        ? unixDgramPort(config, stats, index, onMessage, () => this.#expect)
        : udpPort(config, stats, onMessage);
  }

  get outstanding(): boolean {
    return this.#expect !== null;
  }

  open(): Promise<boolean> {
    return this.#port.open();
  }

  send(): void {
    const line = this.lines.next();
    this.#expect = line;
    this.#sentAt = performance.now();
    this.stats.sent++;
    this.#port.send(line);
  }

  /** Counts a reply older than `replyTimeoutMs` as lost and moves on. */
  sweep(now: number): void {
    if (this.#expect === null || now - this.#sentAt < this.config.replyTimeoutMs) return;
    this.stats.lost++;
    if (this.#late.size >= LATE_MEMORY) this.#late.clear();
    this.#late.add(this.#expect.toString('latin1'));
    this.#expect = null;
    this.#after();
  }

  #receive(message: Buffer): void {
    const expect = this.#expect;
    if (expect !== null && message.equals(expect)) {
      this.#expect = null;
      if (this.stats.measuring) {
        this.stats.completed++;
        this.stats.histogram.record((performance.now() - this.#sentAt) * 1000);
      }
      this.#after();
      return;
    }
    const key = message.toString('latin1');
    if (this.#late.delete(key)) {
      this.stats.late++;
      return;
    }
    this.stats.mismatches++;
    if (expect !== null && message.length === expect.length) {
      // A wrong reply of the right size answers the request: move on.
      this.#expect = null;
      this.#after();
    }
  }

  #after(): void {
    if (this.stats.running) this.send();
    else this.#idle?.();
  }

  whenIdle(): Promise<void> {
    if (this.#expect === null) return Promise.resolve();
    return new Promise((resolve) => {
      this.#idle = resolve;
    });
  }

  close(): void {
    if (this.#expect !== null) this.stats.lost++;
    this.#expect = null;
    this.#port.close();
  }
}

type Flow = KeptStream | ShortSlot | DatagramFlow;

async function openAll(
  count: number,
  parallelism: number,
  deadline: number,
  open: (index: number) => Promise<boolean>,
): Promise<number> {
  let next = 0;
  let ok = 0;
  const lane = async () => {
    while (next < count && performance.now() < deadline) {
      const index = next++;
      if (await open(index)) ok++;
    }
  };
  const timeout = new Promise<void>((resolve) =>
    setTimeout(resolve, Math.max(0, deadline - performance.now())).unref(),
  );
  await Promise.race([
    Promise.all(Array.from({ length: Math.max(1, parallelism) }, lane)),
    timeout,
  ]);
  return ok;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function send(message: ReadyMessage | ResultMessage): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined) resolve();
    else process.send(message, undefined, {}, () => resolve());
  });
}

function waitFor(type: ControlMessage['type']): Promise<void> {
  return new Promise((resolve) => {
    const onMessage = (message: ControlMessage) => {
      if (message?.type !== type) return;
      process.off('message', onMessage);
      resolve();
    };
    process.on('message', onMessage);
  });
}

async function main(config: LoadConfig): Promise<void> {
  const stats = new Stats();
  const flows: Flow[] = [];
  let connected = 0;
  const deadline = performance.now() + config.connectTimeoutMs;
  const lineMaker = (index: number) =>
    new LineMaker(
      (config.seed * 0x01000193) ^ (index * 0x9e3779b9) ^ 0x5bd1e995,
      config.lineLength,
    );

  if (config.mode === 'short') {
    for (let i = 0; i < config.connections; i++) {
      flows.push(new ShortSlot(config, stats, lineMaker(i)));
    }
    connected = config.connections;
  } else if (config.transport === 'udp' || config.transport === 'unixdgram') {
    for (let i = 0; i < config.connections; i++) {
      flows.push(new DatagramFlow(config, stats, lineMaker(i), i));
    }
    connected = await openAll(flows.length, flows.length, deadline, (i) =>
      (flows[i] as DatagramFlow).open(),
    );
  } else {
    for (let i = 0; i < config.connections; i++) {
      flows.push(new KeptStream(config, stats, lineMaker(i), config.mode === 'kept'));
    }
    connected = await openAll(flows.length, config.connectParallelism, deadline, (i) =>
      (flows[i] as KeptStream).open(),
    );
  }
  await send({
    type: 'ready',
    connected,
    errors: stats.errors,
    mismatches: stats.mismatches,
    errorCodes: stats.errorCodes,
  });

  let windowMs = 0;
  let cpu = { user: 0, system: 0 };
  if (config.mode === 'hold') {
    await waitFor('release');
  } else {
    await waitFor('start');
    stats.running = true;
    let sweeper: NodeJS.Timeout | undefined;
    if (
      (config.transport === 'udp' || config.transport === 'unixdgram') &&
      config.mode !== 'short'
    ) {
      const every = Math.max(5, Math.min(50, config.replyTimeoutMs / 4));
      sweeper = setInterval(() => {
        const now = performance.now();
        for (const flow of flows) (flow as DatagramFlow).sweep(now);
      }, every);
    }
    for (const flow of flows) {
      if (flow instanceof ShortSlot) flow.next();
      else if (flow instanceof DatagramFlow) flow.send();
      else if (flow.ready && !flow.socket!.destroyed) flow.send();
    }
    await sleep(config.warmupMs);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    stats.measuring = true;
    process.send?.({ type: 'window', phase: 'start' });
    await sleep(config.durationMs);
    stats.measuring = false;
    stats.running = false;
    process.send?.({ type: 'window', phase: 'end' });
    windowMs = performance.now() - t0;
    cpu = process.cpuUsage(cpu0);
    await Promise.race([
      Promise.all(flows.map((flow) => flow.whenIdle())),
      sleep(config.graceMs).then(() => undefined),
    ]);
    clearInterval(sweeper);
  }
  for (const flow of flows) flow.close();
  await send({
    type: 'result',
    completed: stats.completed,
    sent: stats.sent,
    mismatches: stats.mismatches,
    unexpectedBytes: stats.unexpectedBytes,
    lost: stats.lost,
    late: stats.late,
    retries: stats.retries,
    errors: stats.errors,
    errorCodes: stats.errorCodes,
    connected,
    windowMs,
    cpuUserUs: cpu.user,
    cpuSystemUs: cpu.system,
    histogram: stats.histogram.toJSON(),
  });
  process.exit(0);
}

// Exit with the parent: the IPC channel closes when it goes away.
process.on('disconnect', () => process.exit(0));
const raw = process.argv[2];
if (raw === undefined || process.send === undefined) {
  process.stderr.write('loadgen: run me with child_process.fork(loadgen.js, [JSON config])\n');
  process.exit(2);
}
main(JSON.parse(raw) as LoadConfig).catch((error) => {
  process.stderr.write(`loadgen: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
