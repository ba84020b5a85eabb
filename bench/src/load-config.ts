/**
 * The messages between the orchestrator and a load generator process.
 *
 * @module
 */

/** What a generator process is asked to do (passed as JSON in `argv[2]`). */
export interface LoadConfig {
  /**
   * `kept`: each connection sends a line, waits for its echo, sends the next.
   * `short`: each slot connects, sends one line, reads the echo, closes, repeats.
   * `hold`: opens `connections` connections, checks one echo on each, then keeps them idle until released.
   */
  mode: 'kept' | 'short' | 'hold';
  /** `tcp` and `unix` are streams of lines; `udp` and `unixdgram` send each line as one datagram. */
  transport: 'tcp' | 'udp' | 'unix' | 'unixdgram';
  host?: string;
  port?: number;
  path?: string;
  /** `unixdgram`: each client socket binds `${clientPath}-<n>.sock` to receive its replies. */
  clientPath?: string;
  /** Connections (kept, hold), concurrent slots (short) or sockets with one datagram outstanding (udp). */
  connections: number;
  /** Bytes per request, the last one `\n` (default 64). */
  lineLength: number;
  /** Traffic before the measured window (ms). */
  warmupMs: number;
  /** The measured window (ms). */
  durationMs: number;
  /** After the window, how long outstanding replies may still arrive before they count as lost (ms). */
  graceMs: number;
  /** UDP: a reply later than this is counted lost and the socket sends a new request (ms). */
  replyTimeoutMs: number;
  /** How long connecting all kept/held connections may take (ms). */
  connectTimeoutMs: number;
  /** How many connects may be in progress at once while opening kept/held connections. */
  connectParallelism: number;
  /** Seeds the line contents, so that each process and connection sends different bytes. */
  seed: number;
  /** Stream transports: bytes (hex) sent first on every connection, before any line (a PROXY protocol header). */
  prefix?: string;
  /** TCP: speak TLS (the Node generator only; the server's certificate is not checked). */
  tls?: boolean;
}

/** Generator to orchestrator: connections are open (kept/hold) or slots are ready (short). */
export interface ReadyMessage {
  type: 'ready';
  connected: number;
  errors: number;
  mismatches: number;
  errorCodes: Record<string, number>;
}

/** Generator to orchestrator: the run is over. Counts are for the measured window unless noted. */
export interface ResultMessage {
  type: 'result';
  /** Correct replies completed inside the window (round trips, or short connections). */
  completed: number;
  /** Requests sent over the whole run. */
  sent: number;
  /** Replies (whole run) whose bytes differed from the request, or bytes that came with no request outstanding. */
  mismatches: number;
  /** Bytes received with no request outstanding (whole run). */
  unexpectedBytes: number;
  /** Requests (whole run) whose full reply never came: still outstanding after the grace period, a stream closed before the reply was complete, or a datagram reply later than `replyTimeoutMs`. */
  lost: number;
  /** UDP replies that came after their request had been counted lost. */
  late: number;
  /** Unix datagrams sent again because the server's receive queue was full (EAGAIN). */
  retries: number;
  /** Connection errors (whole run), by code in `errorCodes`. */
  errors: number;
  errorCodes: Record<string, number>;
  /** Connections that were open for the run (kept/hold). */
  connected: number;
  /** The measured window's real length (ms). */
  windowMs: number;
  /** This process's CPU time during the window (µs). */
  cpuUserUs: number;
  cpuSystemUs: number;
  /** Latency histogram of the window's completed requests (see histogram.ts). */
  histogram: { counts: number[]; total: number; maxMicros: number };
}

/** Generator to orchestrator: the measured window starts or ends now (to sample the server's CPU). */
export interface WindowMessage {
  type: 'window';
  phase: 'start' | 'end';
}

/** Orchestrator to generator. */
export type ControlMessage = { type: 'start' } | { type: 'release' };
