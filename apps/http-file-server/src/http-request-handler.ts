/**
 * `HTTPRequestHandler`: an HTTP/1.1 layer on `StreamRequestHandler` (the
 * role of Python's `http.server.BaseHTTPRequestHandler`), written to RFC 9110
 * and RFC 9112. It reads and checks each request head, handles keep-alive,
 * `Expect: 100-continue` and request bodies it does not use, and dispatches
 * to `doGET`, `doHEAD`, ... methods that subclasses define.
 *
 * @module
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { StreamRequestHandler } from '@socketserver/core';
import { escapeHtml, escapeLog } from './escape.js';
import { Headers } from './headers.js';

/** The version sent in the `Server` header. */
export const SERVER_VERSION = 'socketserver-http/0.1.0';

/** Limits and timeouts of {@link HTTPRequestHandler}; every field has a default. */
export interface HTTPSettings {
  /** Longest request line, CRLF excluded; longer gets 414 (default 8192 bytes). */
  maxRequestLine: number;
  /** Largest header section, every field line and its CRLF counted; larger gets 431 (default 65536 bytes). */
  maxHeaderBytes: number;
  /** Most header fields; more gets 431 (default 100). */
  maxHeaders: number;
  /** Time allowed to receive a whole request head, from its first byte (default 10000 ms). */
  headTimeout: number;
  /** Idle time allowed between requests on a kept-alive connection (default 5000 ms). */
  keepAliveTimeout: number;
  /** Idle time allowed while a response is sent or a body read, when no byte moves (default 30000 ms). */
  idleTimeout: number;
  /** Keep connections open between requests (default true). */
  keepAlive: boolean;
  /** Largest request body that is read and discarded to keep the connection; larger closes it (default 65536). */
  maxDrainBytes: number;
  /** Write no access log (default false). */
  quiet: boolean;
}

/** The defaults of {@link HTTPSettings}. */
export const DEFAULT_HTTP_SETTINGS: Readonly<HTTPSettings> = Object.freeze({
  maxRequestLine: 8192,
  maxHeaderBytes: 64 * 1024,
  maxHeaders: 100,
  headTimeout: 10_000,
  keepAliveTimeout: 5_000,
  idleTimeout: 30_000,
  keepAlive: true,
  maxDrainBytes: 64 * 1024,
  quiet: false,
});

/** Explanations for error pages (Python's `BaseHTTPRequestHandler.responses`, shortened). */
const EXPLAIN: Record<number, string> = {
  400: 'Bad request syntax or unsupported method.',
  403: 'Request forbidden -- authorization will not help.',
  404: 'Nothing matches the given URI.',
  408: 'The request head was not received in time.',
  412: 'A precondition given in the request evaluated to false.',
  414: 'The request line is too long.',
  416: 'Cannot satisfy request range.',
  417: 'Expect condition could not be satisfied.',
  431: 'The header section is too large.',
  500: 'Server got itself in trouble.',
  501: 'Server does not support this operation.',
  505: 'Cannot fulfill request.',
};

/** Error statuses after which the connection may stay open: the request was well formed. */
const KEEP_ALIVE_ERRORS = new Set([403, 404, 412, 416]);

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const VERSION = /^HTTP\/(\d)\.(\d)$/;
// Field values: visible ASCII, SP, HTAB and obs-text; no other control.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control bytes is the point.
const BAD_FIELD_BYTE = /[\x00-\x08\x0a-\x1f\x7f]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control bytes is the point.
const BAD_TARGET_BYTE = /[\x00-\x20\x7f]/;

/** A request head that cannot be processed: answered with `status`, then the connection closes. */
export class HTTPError extends Error {
  /**
   * @param status - the status to answer with.
   * @param message - the error page's message.
   * @param headers - extra response fields (for example `Allow`).
   */
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HTTPError';
  }
}

/** The environment variable that carries handler settings to worker threads and child processes. */
export const SETTINGS_ENV = 'SOCKETSERVER_HTTP_SETTINGS';

let envSettings: object | null | undefined;

/** The settings in {@link SETTINGS_ENV}, parsed once; null when unset or invalid. */
function settingsFromEnv(): object | null {
  if (envSettings === undefined) {
    try {
      const parsed: unknown = JSON.parse(process.env[SETTINGS_ENV] ?? 'null');
      envSettings = typeof parsed === 'object' ? parsed : null;
    } catch {
      envSettings = null;
    }
  }
  return envSettings;
}

let cachedDate = '';
let cachedSecond = 0;

/** The current time as an IMF-fixdate (RFC 9110 §5.6.7), cached for a second. */
export function httpDate(now = Date.now()): string {
  const second = Math.floor(now / 1000);
  if (second !== cachedSecond) {
    cachedSecond = second;
    cachedDate = new Date(second * 1000).toUTCString();
  }
  return cachedDate;
}

const statusLines = new Map<number, string>();

/** `HTTP/1.1 <code> <reason>\r\n`, the reason defaulting to the standard one, CR and LF made spaces. */
function statusLine(code: number, message?: string): string {
  if (message !== undefined) return `HTTP/1.1 ${code} ${message.replace(/[\r\n]/g, ' ')}\r\n`;
  let line = statusLines.get(code);
  if (line === undefined) {
    line = `HTTP/1.1 ${code} ${STATUS_CODES[code] ?? ''}\r\n`;
    if (statusLines.size < 1000) statusLines.set(code, line);
  }
  return line;
}

/** Sockets corked by {@link HTTPRequestHandler}'s writes in this turn of the event loop. */
let corked: Socket[] = [];

function uncorkAll(): void {
  const sockets = corked;
  corked = [];
  for (const socket of sockets) {
    while (socket.writableCorked > 0) socket.uncork();
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * Destroys a connection once what was written to it has been handed to the
 * kernel (a response held by the cork must not be lost); at once when
 * nothing is pending. A peer that does not read is cut off by `idleTimeout`.
 * @internal
 */
export function destroyWhenWritten(socket: Socket): void {
  if (socket.destroyed || socket.writableEnded) return;
  if (socket.writableLength === 0) {
    socket.destroy();
    return;
  }
  while (socket.writableCorked > 0) socket.uncork();
  socket.write(EMPTY, () => socket.destroy());
}

/** Errors that only mean the peer went away or was cut off: not worth a report. */
function isDisconnect(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return (
    code === 'ECONNRESET' ||
    code === 'EPIPE' ||
    code === 'ERR_SOCKETSERVER_CLOSED' ||
    code === 'ERR_SOCKETSERVER_TIMEOUT' ||
    code === 'ERR_STREAM_DESTROYED' ||
    code === 'ERR_STREAM_PREMATURE_CLOSE'
  );
}

/**
 * The HTTP/1.1 request handler (Python's `BaseHTTPRequestHandler`).
 *
 * Serves requests on one connection until it closes: each request head is
 * read and checked (RFC 9112), then `do<METHOD>()` is called (`doGET`,
 * `doHEAD`, ...; none: 501 with `Allow`). Inside it, {@link sendResponse},
 * {@link sendHeader}, {@link endHeaders} and `wfile` write the response, or
 * {@link sendError} an error page.
 *
 * What it refuses, always closing the connection after the answer: a
 * request line over `maxRequestLine` (414), a header section over
 * `maxHeaderBytes` or `maxHeaders` fields (431), a line not ended by CRLF,
 * a bare CR, a control byte, an obs-fold, a malformed field name, an
 * HTTP/0.9 request (no version), a malformed version (400), a version other
 * than 1.x (505), `Content-Length` together with `Transfer-Encoding`, a
 * duplicate or invalid `Content-Length`, a `Transfer-Encoding` whose last
 * coding is not chunked, an HTTP/1.1 request without exactly one `Host` (400),
 * an `Expect` other than `100-continue` (417).
 *
 * Request bodies: a handler may read one with {@link readBody}; a body it did
 * not read is discarded when it is at most `maxDrainBytes`, otherwise (and
 * for every chunked body) the connection is closed after the response, so a
 * body is never read as the next request.
 *
 * Settings are the fields of {@link HTTPSettings}; a subclass may override
 * them, and a server with a `handlerSettings` object sets them per server.
 */
export class HTTPRequestHandler extends StreamRequestHandler<any> implements HTTPSettings {
  maxRequestLine = DEFAULT_HTTP_SETTINGS.maxRequestLine;
  maxHeaderBytes = DEFAULT_HTTP_SETTINGS.maxHeaderBytes;
  maxHeaders = DEFAULT_HTTP_SETTINGS.maxHeaders;
  headTimeout = DEFAULT_HTTP_SETTINGS.headTimeout;
  keepAliveTimeout = DEFAULT_HTTP_SETTINGS.keepAliveTimeout;
  idleTimeout = DEFAULT_HTTP_SETTINGS.idleTimeout;
  keepAlive = DEFAULT_HTTP_SETTINGS.keepAlive;
  maxDrainBytes = DEFAULT_HTTP_SETTINGS.maxDrainBytes;
  quiet = DEFAULT_HTTP_SETTINGS.quiet;

  /** The `Server` header's value. */
  serverVersion = SERVER_VERSION;
  /** Unsent bytes `wfile` may hold before a write waits (128 KiB: large enough to stream well). */
  override wbufsize = 512 * 1024;
  override disableNagleAlgorithm = true;

  /** The request line as received (latin-1 decoded, CRLF removed). */
  requestline = '';
  /** The method (Python's `command`). */
  command = '';
  /** The request target as received (Python's `path`). */
  path = '';
  /** The request's version, for example `HTTP/1.1`. */
  requestVersion = '';
  /** The request's header fields. */
  headers = new Headers();
  /** Whether the connection closes after this response. */
  closeConnection = true;
  /** The status of the response sent for this request, once sent. */
  responseStatus = 0;
  /** Bytes of the response body sent for this request (for the access log). */
  bodyBytesSent = 0;

  /** The response head being built. */
  #head = '';
  #bodyLength = 0;
  #bodyChunked = false;
  #bodyRead = false;
  #http11 = true;
  /** What the connection waits for: its timers act only in the matching phase. */
  #phase: 'busy' | 'idle' | 'head' = 'busy';
  #headTimer: NodeJS.Timeout | null = null;
  #idleTimer: NodeJS.Timeout | null = null;
  #closing = false;

  /**
   * Applies the server's `handlerSettings` (in a worker thread or child
   * process, the ones in `SOCKETSERVER_HTTP_SETTINGS`), then prepares
   * `rfile`/`wfile` and the idle timeout.
   */
  override setup(): void {
    const settings =
      (this.server as { handlerSettings?: object } | undefined)?.handlerSettings ??
      settingsFromEnv();
    if (settings) Object.assign(this, settings);
    super.setup();
    const socket = this.connection;
    if (this.idleTimeout > 0) socket.setTimeout(this.idleTimeout, () => socket.destroy());
    (this.server as { httpConnections?: Set<HTTPRequestHandler> }).httpConnections?.add(this);
  }

  /** Removes the timers. */
  override async finish(): Promise<void> {
    this.#clearTimers();
    this.connection.off('data', this.#onData);
    (this.server as { httpConnections?: Set<HTTPRequestHandler> }).httpConnections?.delete(this);
    await super.finish();
    this.connection.setTimeout(0);
  }

  /**
   * Closes the connection at once if it waits for a request (idle between
   * requests, or connected without having sent a byte), or after the
   * response in progress otherwise (used for graceful shutdown).
   */
  closeWhenIdle(): void {
    this.#closing = true;
    const waiting =
      this.#phase === 'idle' ||
      (this.#phase === 'head' && !this.#headBytes && this.rfile.bufferedLength === 0);
    if (waiting) destroyWhenWritten(this.connection);
  }

  /** Serves requests until the connection is to be closed (Python's `handle`). */
  override async handle(): Promise<void> {
    this.closeConnection = true;
    try {
      let first = true;
      do {
        this.closeConnection = true;
        await this.handleOneRequest(first);
        first = false;
      } while (!this.closeConnection && !this.#closing && !this.connection.destroyed);
    } catch (error) {
      if (!isDisconnect(error)) throw error;
    }
  }

  /**
   * Reads, checks and serves one request (Python's `handle_one_request`).
   * Returns with `closeConnection` true when the connection must close.
   */
  async handleOneRequest(first = false): Promise<void> {
    this.#reset();
    const head = await this.#readHead(first);
    if (!head) return;
    try {
      this.#parseHead(head);
    } catch (error) {
      if (!(error instanceof HTTPError)) throw error;
      this.closeConnection = true;
      await this.sendError(error.status, error.message, undefined, error.headers);
      return;
    }
    const method = `do${this.command}`;
    const implemented = typeof (this as unknown as Record<string, unknown>)[method] === 'function';
    if (!implemented) {
      if (this.#bodyLength > 0 || this.#bodyChunked) this.closeConnection = true;
      await this.sendError(501, `Unsupported method (${JSON.stringify(this.command)})`, undefined, {
        Allow: this.allowedMethods().join(', '),
      });
      return;
    }
    if (this.#http11 && this.headers.has('expect') && !(await this.#handleExpect())) return;
    try {
      await (this as unknown as Record<string, () => Promise<void>>)[method]!();
    } catch (error) {
      // An HTTPError before any response was started is answered as such.
      if (!(error instanceof HTTPError) || this.responseStatus !== 0) throw error;
      this.closeConnection = true;
      await this.sendError(error.status, error.message, undefined, error.headers);
      return;
    }
    // Writes already wait while more than `wbufsize` is unsent; the last
    // response may still be held until the end of this turn (see #write).
    if (this.connection.writableLength > this.wbufsize) await this.wfile.flush();
    if (this.#bodyLength > 0) await this.#discardBody();
  }

  /** The methods this handler implements, from its `do<METHOD>` members (for `Allow`). */
  allowedMethods(): string[] {
    const names = new Set<string>();
    for (let proto = Object.getPrototypeOf(this); proto; proto = Object.getPrototypeOf(proto)) {
      for (const name of Object.getOwnPropertyNames(proto)) {
        if (/^do[A-Z]+$/.test(name)) names.add(name.slice(2));
      }
    }
    return [...names].sort();
  }

  /**
   * Reads the request body (at most `limit` bytes; a larger one rejects
   * with a 413 {@link HTTPError}). Only `Content-Length` bodies are read; a
   * chunked body rejects with 411.
   */
  async readBody(limit = this.maxDrainBytes): Promise<Buffer> {
    if (this.#bodyChunked) throw new HTTPError(411, 'Chunked request bodies are not accepted');
    if (this.#bodyLength > limit) throw new HTTPError(413, 'Request body too large');
    this.#bodyRead = true;
    return this.rfile.readExactly(this.#bodyLength);
  }

  // -- responses ------------------------------------------------------------

  /**
   * Starts a response: buffers the status line, `Server` and `Date`, and
   * logs the request (Python's `send_response`).
   */
  sendResponse(code: number, message?: string): void {
    this.logRequest(code);
    this.responseStatus = code;
    this.#head +=
      message === undefined
        ? this.preparedHeadStart(code, httpDate())
        : `${statusLine(code, message)}${this.#serverLine()}Date: ${httpDate()}\r\n`;
  }

  /** Buffers the status line only (Python's `send_response_only`). */
  sendResponseOnly(code: number, message?: string): void {
    this.responseStatus = code;
    this.#head += statusLine(code, message);
  }

  /**
   * Buffers a header field. A `Connection: close` or `keep-alive` also sets
   * {@link closeConnection}. CR and LF in the value are replaced by spaces.
   */
  sendHeader(name: string, value: string | number): void {
    let text = typeof value === 'number' ? String(value) : value;
    if (typeof value !== 'number' && (text.includes('\r') || text.includes('\n'))) {
      text = text.replace(/[\r\n]/g, ' ');
    }
    this.#head += `${name}: ${text}\r\n`;
    if (name.length === 10 && name.toLowerCase() === 'connection') {
      const lower = text.toLowerCase();
      if (lower === 'close') this.closeConnection = true;
      else if (lower === 'keep-alive') this.closeConnection = false;
    }
  }

  /**
   * Ends the header section: adds `Connection` as the request and settings
   * call for, and writes the head, with `body` after it in the same write
   * when given (Python's `end_headers`).
   */
  endHeaders(body?: Uint8Array): Promise<void> {
    if (this.#closing) this.closeConnection = true;
    let head = this.#head;
    if (this.closeConnection) head += 'Connection: close\r\n\r\n';
    else if (!this.#http11) head += 'Connection: keep-alive\r\n\r\n';
    else head += '\r\n';
    this.#head = '';
    if (body && body.length > 0) {
      // One buffer, one write: the head is latin-1, one byte per character.
      const out = Buffer.allocUnsafe(head.length + body.length);
      out.write(head, 0, 'latin1');
      out.set(body, head.length);
      this.bodyBytesSent += body.length;
      return this.#write(out);
    }
    return this.#write(Buffer.from(head, 'latin1'));
  }

  /** Writes part of a response body, counting it for the log. */
  writeBody(chunk: Uint8Array): Promise<void> {
    this.bodyBytesSent += chunk.length;
    return this.#write(chunk);
  }

  /**
   * The status line, `Server` and `Date` of a response as
   * {@link sendResponse} writes them (for heads prepared ahead).
   */
  preparedHeadStart(code: number, date: string): string {
    return `${statusLine(code)}${this.#serverLine()}Date: ${date}\r\n`;
  }

  /**
   * Whether a head prepared ahead (status line to blank line, without
   * `Connection`) is right for this request's response: HTTP/1.1, the
   * connection staying open. Otherwise use {@link endHeaders}, which adds
   * the `Connection` field.
   */
  canSendPrepared(): boolean {
    return this.#http11 && !this.closeConnection && !this.#closing;
  }

  /**
   * Sends a whole response prepared ahead (see {@link canSendPrepared}):
   * logs it with `code`, counts `bodyLength` bytes of body.
   */
  sendPreparedResponse(code: number, response: Uint8Array, bodyLength: number): Promise<void> {
    this.logRequest(code);
    this.responseStatus = code;
    this.bodyBytesSent += bodyLength;
    return this.#write(response);
  }

  /**
   * Writes response bytes. Writes made while a turn of the event loop runs
   * are held (the socket is corked) and leave together when the turn ends
   * (`setImmediate`), so the responses to requests that arrived together
   * leave together: fewer system calls and wake-ups for the peer.
   */
  #write(bytes: Uint8Array): Promise<void> {
    const socket = this.connection;
    if (!socket.writableCorked && !socket.destroyed) {
      socket.cork();
      corked.push(socket);
      if (corked.length === 1) setImmediate(uncorkAll);
    }
    return this.wfile.write(bytes);
  }

  #serverLine(): string {
    const version = this.serverVersion;
    if (version !== this.#serverVersionSeen) {
      this.#serverVersionSeen = version;
      this.#serverLineText = `Server: ${version.replace(/[\r\n]/g, ' ')}\r\n`;
    }
    return this.#serverLineText;
  }

  #serverVersionSeen = '';
  #serverLineText = '';

  /**
   * Sends an error page (Python's `send_error`): the status, an HTML page
   * with `message` and `explain` escaped, no body for HEAD, 1xx, 204 and 304.
   */
  async sendError(
    code: number,
    message?: string,
    explain?: string,
    headers: Record<string, string> = {},
  ): Promise<void> {
    const reason = STATUS_CODES[code] ?? '???';
    message ??= reason;
    explain ??= EXPLAIN[code] ?? '';
    this.logError(`code ${code}, message ${message}`);
    this.sendResponse(code, reason);
    for (const [name, value] of Object.entries(headers)) this.sendHeader(name, value);
    if (code >= 400 && !KEEP_ALIVE_ERRORS.has(code)) this.closeConnection = true;
    let body: Buffer | undefined;
    if (code >= 200 && code !== 204 && code !== 304) {
      body = Buffer.from(
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n' +
          '<title>Error response</title>\n</head>\n<body>\n<h1>Error response</h1>\n' +
          `<p>Error code: ${code}</p>\n<p>Message: ${escapeHtml(message)}.</p>\n` +
          `<p>Error code explanation: ${code} - ${escapeHtml(explain)}</p>\n</body>\n</html>\n`,
      );
      this.sendHeader('Content-Type', 'text/html; charset=utf-8');
      this.sendHeader('Content-Length', body.length);
    }
    await this.endHeaders(this.command === 'HEAD' ? undefined : body);
  }

  // -- logging --------------------------------------------------------------

  /** Logs an accepted request (Python's `log_request`). */
  logRequest(code: number | string = '-', size: number | string = '-'): void {
    this.logMessage(`"${this.requestline}" ${code} ${size}`);
  }

  /** Logs an error. May be overridden; by default it goes to the access log (as in Python). */
  logError(_message: string): void {}

  /**
   * Writes one access-log line to stderr: client, time, message, with
   * control characters and backslashes escaped (Python's `log_message`).
   */
  logMessage(message: string): void {
    if (this.quiet) return;
    process.stderr.write(`${this.addressString()} - - [${logDate()}] ${escapeLog(message)}\n`);
  }

  /** The client's address for the log. */
  addressString(): string {
    const address = this.clientAddress as { host?: string } | string;
    if (typeof address === 'string') return address === '' ? 'unix' : address;
    return address?.host ?? '-';
  }

  // -- internals ------------------------------------------------------------

  #reset(): void {
    this.requestline = '';
    this.command = '';
    this.path = '';
    this.requestVersion = '';
    this.headers = new Headers();
    this.responseStatus = 0;
    this.bodyBytesSent = 0;
    this.#head = '';
    this.#bodyLength = 0;
    this.#bodyChunked = false;
    this.#bodyRead = false;
    this.#http11 = true;
  }

  #clearTimers(): void {
    this.#phase = 'busy';
    if (this.#headTimer !== null) clearTimeout(this.#headTimer);
    if (this.#idleTimer !== null) clearTimeout(this.#idleTimer);
    this.#headTimer = this.#idleTimer = null;
  }

  /** The head deadline starts: at the first byte of a request. */
  #startHead(): void {
    this.#phase = 'head';
    if (this.#headTimer === null) {
      this.#headTimer = setTimeout(() => {
        if (this.#phase === 'head') this.#headTimedOut();
      }, this.headTimeout);
    } else {
      this.#headTimer.refresh();
    }
  }

  /** Bytes arrived: a connection idle between requests starts its next head. */
  #onData = (): void => {
    this.#headBytes = true;
    if (this.#phase === 'idle') this.#startHead();
  };

  /** Whether a byte of the current request has arrived. */
  #headBytes = false;

  /**
   * Arms the head deadline, or, between requests, the keep-alive idle limit
   * until a byte arrives. The two timers are made once per connection and
   * re-armed with `refresh()`; a timer that fires out of its phase does nothing.
   */
  #armHeadTimers(first: boolean): void {
    this.#headBytes = false;
    if (first) this.connection.on('data', this.#onData);
    if (this.#closing && this.rfile.bufferedLength === 0) {
      destroyWhenWritten(this.connection);
      return;
    }
    if (first || this.rfile.bufferedLength > 0) {
      this.#startHead();
      return;
    }
    this.#phase = 'idle';
    if (this.#idleTimer === null) {
      this.#idleTimer = setTimeout(() => {
        if (this.#phase === 'idle') destroyWhenWritten(this.connection);
      }, this.keepAliveTimeout);
    } else {
      this.#idleTimer.refresh();
    }
  }

  #headTimedOut(): void {
    const socket = this.connection;
    if (socket.destroyed) return;
    this.requestline ||= '-';
    this.logRequest(408);
    // Best effort: the peer may not read it; the socket is destroyed shortly after.
    socket.end('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  /** Reads the request line and header lines; null when the peer closed between requests. */
  async #readHead(first: boolean): Promise<{ line: Buffer; fields: Buffer[] } | null> {
    this.#armHeadTimers(first);
    try {
      let line: Buffer;
      let blank = 0;
      for (;;) {
        line = await this.rfile.readline(this.maxRequestLine + 2);
        if (line.length === 0) return null;
        // RFC 9112 §2.2: ignore at least one empty line before the request line.
        if (line.length === 2 && line[0] === 0x0d && line[1] === 0x0a && blank++ < 4) continue;
        break;
      }
      if (line[line.length - 1] !== 0x0a) {
        if (line.length < this.maxRequestLine + 2) return null; // the peer stopped mid-line
        this.requestline = line.subarray(0, 64).toString('latin1');
        throw new HTTPError(414, 'Request line too long');
      }
      const end = line.length - (line[line.length - 2] === 0x0d ? 2 : 1);
      this.requestline = line.toString('latin1', 0, end);
      const fields: Buffer[] = [];
      let budget = this.maxHeaderBytes;
      for (;;) {
        const field = await this.rfile.readline(budget + 1);
        if (field.length === 0) return null;
        if (field[field.length - 1] !== 0x0a) {
          if (field.length <= budget) return null;
          throw new HTTPError(431, 'Line too long');
        }
        if (field.length === 2 && field[0] === 0x0d) break;
        if (field.length === 1) throw new HTTPError(400, 'Bare LF in the header section');
        budget -= field.length;
        fields.push(field);
        if (fields.length > this.maxHeaders) throw new HTTPError(431, 'Too many headers');
      }
      return { line, fields };
    } catch (error) {
      if (error instanceof HTTPError) {
        this.closeConnection = true;
        this.#phase = 'busy';
        await this.sendError(error.status, error.message);
        return null;
      }
      throw error;
    } finally {
      this.#phase = 'busy';
    }
  }

  #parseHead({ line, fields }: { line: Buffer; fields: Buffer[] }): void {
    // `requestline` is the line without its CRLF, already decoded.
    const text = checkLine(line, 'request line', this.requestline);
    const words = text.split(' ');
    if (words.length === 2 && words[1] !== '') {
      throw new HTTPError(400, `Bad request version: HTTP/0.9 is not supported (${text})`);
    }
    if (words.length !== 3) throw new HTTPError(400, `Bad request syntax (${text})`);
    const [command, target, version] = words as [string, string, string];
    if (!TOKEN.test(command)) throw new HTTPError(400, `Bad request method (${command})`);
    this.command = command;
    if (version !== 'HTTP/1.1') {
      const match = VERSION.exec(version);
      if (!match) throw new HTTPError(400, `Bad request version (${version})`);
      if (match[1] !== '1') throw new HTTPError(505, `Invalid HTTP version (${version})`);
      this.#http11 = match[2] !== '0';
    } else {
      this.#http11 = true;
    }
    this.requestVersion = version;
    if (target === '' || BAD_TARGET_BYTE.test(target)) {
      throw new HTTPError(400, `Bad request target (${target})`);
    }
    this.path = target;

    for (const field of fields) {
      const fieldText = checkLine(field, 'header field');
      if (fieldText[0] === ' ' || fieldText[0] === '\t') {
        throw new HTTPError(400, 'Obsolete line folding is not accepted');
      }
      const colon = fieldText.indexOf(':');
      const name = colon > 0 ? fieldText.slice(0, colon) : '';
      if (!TOKEN.test(name)) throw new HTTPError(400, `Bad header field (${fieldText})`);
      this.headers.append(name, fieldText.slice(colon + 1).trim());
    }

    const hosts = this.headers.getAll('host');
    if (this.#http11 && hosts.length !== 1) {
      throw new HTTPError(400, 'An HTTP/1.1 request needs exactly one Host header');
    }
    if (hosts.length > 1) throw new HTTPError(400, 'More than one Host header');

    const lengths = this.headers.getAll('content-length');
    const encodings = this.headers.getAll('transfer-encoding');
    if (encodings.length > 0) {
      if (lengths.length > 0) {
        throw new HTTPError(400, 'Both Content-Length and Transfer-Encoding were sent');
      }
      if (!this.#http11) throw new HTTPError(400, 'Transfer-Encoding in an HTTP/1.0 request');
      const codings = encodings
        .join(',')
        .split(',')
        .map((coding) => coding.trim().toLowerCase());
      if (codings[codings.length - 1] !== 'chunked') {
        throw new HTTPError(400, 'Transfer-Encoding does not end with chunked');
      }
      this.#bodyChunked = true;
    } else if (lengths.length > 0) {
      if (lengths.length > 1 || !/^\d{1,15}$/.test(lengths[0]!)) {
        throw new HTTPError(400, 'Invalid or duplicate Content-Length');
      }
      this.#bodyLength = Number(lengths[0]);
    }

    const connection = this.headers.tokens('connection');
    if (connection.includes('close')) this.closeConnection = true;
    else if (this.#http11) this.closeConnection = false;
    else this.closeConnection = !connection.includes('keep-alive');
    if (!this.keepAlive || this.#closing) this.closeConnection = true;
    if (this.#bodyChunked || this.#bodyLength > this.maxDrainBytes) this.closeConnection = true;
  }

  /** Handles `Expect` (Python's `handle_expect_100`); false when the request was answered. */
  async #handleExpect(): Promise<boolean> {
    const expect = this.headers.get('expect');
    if (expect === undefined || !this.#http11) return true;
    if (expect.toLowerCase() !== '100-continue') {
      this.closeConnection = true;
      await this.sendError(417);
      return false;
    }
    if (this.#bodyChunked || this.#bodyLength > this.maxDrainBytes) {
      // The body would not be read: answer now, without inviting it (RFC 9110 §10.1.1).
      return true;
    }
    this.sendResponseOnly(100);
    const head = `${this.#head}\r\n`;
    this.#head = '';
    await this.#write(Buffer.from(head, 'latin1'));
    this.responseStatus = 0;
    return true;
  }

  /** Reads and drops an unread body, or marks the connection for closing. */
  async #discardBody(): Promise<void> {
    if (this.#bodyRead || this.#bodyLength === 0) return;
    if (this.closeConnection || this.#bodyLength > this.maxDrainBytes) {
      this.closeConnection = true;
      return;
    }
    await this.rfile.readExactly(this.#bodyLength);
  }
}

/** Checks a head line (CRLF ending, no bare CR, no control byte) and returns its text. */
function checkLine(line: Buffer, what: string, decoded?: string): string {
  const end = line.length - 2;
  if (end < 0 || line[end] !== 0x0d) {
    throw new HTTPError(400, `Bad ${what}: lines must end with CRLF`);
  }
  const text = decoded ?? line.toString('latin1', 0, end);
  // One scan for the common case; the message is worked out only on failure.
  if (BAD_FIELD_BYTE.test(text)) {
    if (text.includes('\r')) throw new HTTPError(400, `Bad ${what}: bare CR`);
    throw new HTTPError(400, `Bad ${what}: control character`);
  }
  return text;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** The log's time stamp, as Python's `log_date_time_string`: `26/Nov/2026 10:34:14`. */
function logDate(): string {
  const d = new Date();
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
