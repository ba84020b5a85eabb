/**
 * `BaseHTTPRequestHandler`: HTTP/1.1 on `StreamRequestHandler`, as Python's
 * `http.server.BaseHTTPRequestHandler` stands on `socketserver`.
 *
 * @module
 */
import { IncompleteReadError, StreamRequestHandler } from '@socketserver/core';
import {
  accessLine,
  clientName,
  type LogFormat,
  logDateTimeString,
  logLine,
} from './access-log.js';
import { ConnectionTimers, type Expiry, type TimerLimits } from './connection-timers.js';
import { type HeadLimits, HeadParser, type RequestHead, readRequestHead } from './head-parser.js';
import { Headers } from './headers.js';
import { HTTPError } from './http-error.js';
import { errorPage } from './page.js';
import {
  explainStatus,
  fieldLine,
  httpDate,
  oneLine,
  reasonPhrase,
  statusLine,
} from './response-head.js';
import { destroyWhenWritten, ResponseWriter } from './response-writer.js';

/** The version sent in the `Server` header by default. */
export const SERVER_VERSION = 'socketserver-http/0.1.0';

/** Limits, timeouts and switches of {@link BaseHTTPRequestHandler}; every field has a default. */
export interface HTTPSettings extends HeadLimits, TimerLimits {
  /** Longest request line, CRLF excluded; longer gets 414 (default 8192 bytes). */
  maxRequestLine: number;
  /** Largest header section, every field line and its CRLF counted; larger gets 431 (default 65536 bytes). */
  maxHeaderBytes: number;
  /** Most header fields; more gets 431 (default 100). */
  maxHeaders: number;
  /** Time allowed for a whole request head, from its first byte (default 10000 ms; then 408). */
  headTimeout: number;
  /** Time a kept-alive connection may wait for its next request (default 5000 ms). */
  keepAliveTimeout: number;
  /** Time allowed for a request body before `bodyMinRate` extends it (default 10000 ms; then 408 or a close). */
  bodyTimeout: number;
  /** Each `bodyMinRate` bytes of body received add one second to `bodyTimeout` (default 500 bytes/s). */
  bodyMinRate: number;
  /** A response whose bytes wait this long without one reaching the kernel is cut off (default 30000 ms). */
  sendTimeout: number;
  /** Keep connections open between requests (default true). */
  keepAlive: boolean;
  /**
   * Largest request body discarded to keep the connection when the handler
   * does not read it, and `readBody`'s default limit (default 65536 bytes).
   */
  maxDrainBytes: number;
  /** Write no access log (default false). */
  quiet: boolean;
  /**
   * The access log's format: `python` (the default, Python's line),
   * `common` (the Common Log Format, with bytes), `combined` (with the
   * referrer, the user agent and the duration) or `json` (one object per
   * line, all of these).
   */
  logFormat: LogFormat;
}

/** The defaults of {@link HTTPSettings}. */
export const DEFAULT_HTTP_SETTINGS: Readonly<HTTPSettings> = Object.freeze({
  maxRequestLine: 8192,
  maxHeaderBytes: 64 * 1024,
  maxHeaders: 100,
  headTimeout: 10_000,
  keepAliveTimeout: 5_000,
  bodyTimeout: 10_000,
  bodyMinRate: 500,
  sendTimeout: 30_000,
  keepAlive: true,
  maxDrainBytes: 64 * 1024,
  quiet: false,
  logFormat: 'python' as LogFormat,
});

/** Error statuses after which the connection may stay open: the request was well formed. */
const KEEP_ALIVE_ERRORS = new Set([403, 404, 412, 416]);
/** How long a connection cut off by a timeout may take to deliver its 408 before it is destroyed. */
const LINGER_AFTER_TIMEOUT = 1_000;
const EMPTY = Buffer.alloc(0);
const EMPTY_HEADERS = new Headers();

/** The server fields the handler uses when the server has them (see `HTTPServer`). */
interface HTTPServerFields {
  handlerSettings?: object;
  httpConnections?: Set<BaseHTTPRequestHandler>;
}

/**
 * Errors that only mean the client went away, was cut off, or broke off a
 * body: answered by closing the connection, never reported with a stack.
 */
function isClientFault(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return (
    code === 'ECONNRESET' ||
    code === 'EPIPE' ||
    code === 'ERR_SOCKETSERVER_CLOSED' ||
    code === 'ERR_SOCKETSERVER_TIMEOUT' ||
    code === 'ERR_SOCKETSERVER_INCOMPLETE_READ' ||
    code === 'ERR_STREAM_DESTROYED' ||
    code === 'ERR_STREAM_PREMATURE_CLOSE' ||
    code === 'ERR_STREAM_WRITE_AFTER_END'
  );
}

/**
 * The HTTP/1.1 request handler (Python's `BaseHTTPRequestHandler`).
 *
 * Serves the requests of one connection until it closes: each request head
 * is read and checked (RFC 9112), then `do<METHOD>()` is called (`doGET`,
 * `doPOST`, ...; none: 501 with `Allow`). A do-method answers with
 * {@link sendResponse}, {@link sendHeader}, {@link endHeaders} and `wfile`,
 * or with {@link sendError}; it may also throw an {@link HTTPError} while
 * no response has been written.
 *
 * What it refuses, closing the connection after the answer: a request line
 * over `maxRequestLine` (414), a header section over `maxHeaderBytes` or
 * `maxHeaders` fields (431), a line not ended by CRLF, a bare CR, a control
 * byte, obs-fold, a bad field name, an HTTP/0.9 request, a malformed
 * version (400, at the request line, before any header is waited for), a
 * version other than 1.x (505), a missing, repeated or invalid `Host`,
 * conflicting or invalid `Content-Length`/`Transfer-Encoding` (400), an
 * `Expect` other than `100-continue` (417).
 *
 * Bodies: {@link readBody} reads a `Content-Length` body (sending `100
 * Continue` first when the client waits for it, so a request refused before
 * its body is wanted never gets one). A body the handler does not read is
 * discarded when it is at most `maxDrainBytes`, otherwise (and for chunked
 * bodies) the connection closes after the response.
 *
 * Timers (see `HTTPSettings`): the head within `headTimeout`, a body at
 * `bodyTimeout` plus `bodyMinRate`, the next request within
 * `keepAliveTimeout`, and a response that does not move for `sendTimeout`
 * is cut off.
 *
 * The log: one line per request answered, written when its response is
 * done ({@link logRequest}); nothing for a client's fault beyond that line;
 * `quiet` turns it off.
 *
 * Settings are the fields of {@link HTTPSettings}: a subclass overrides them,
 * and a server's `handlerSettings` object sets them per server.
 */
export class BaseHTTPRequestHandler extends StreamRequestHandler<any> implements HTTPSettings {
  maxRequestLine = DEFAULT_HTTP_SETTINGS.maxRequestLine;
  maxHeaderBytes = DEFAULT_HTTP_SETTINGS.maxHeaderBytes;
  maxHeaders = DEFAULT_HTTP_SETTINGS.maxHeaders;
  headTimeout = DEFAULT_HTTP_SETTINGS.headTimeout;
  keepAliveTimeout = DEFAULT_HTTP_SETTINGS.keepAliveTimeout;
  bodyTimeout = DEFAULT_HTTP_SETTINGS.bodyTimeout;
  bodyMinRate = DEFAULT_HTTP_SETTINGS.bodyMinRate;
  sendTimeout = DEFAULT_HTTP_SETTINGS.sendTimeout;
  keepAlive = DEFAULT_HTTP_SETTINGS.keepAlive;
  maxDrainBytes = DEFAULT_HTTP_SETTINGS.maxDrainBytes;
  quiet = DEFAULT_HTTP_SETTINGS.quiet;
  logFormat = DEFAULT_HTTP_SETTINGS.logFormat;

  /** The `Server` header's value (Python's `server_version`). */
  serverVersion = SERVER_VERSION;
  /** Unsent bytes `wfile` may hold before a write waits (512 KiB: large enough to stream well). */
  override wbufsize = 512 * 1024;
  override disableNagleAlgorithm = true;
  /** Writes the response; see {@link ResponseWriter}. */
  declare wfile: ResponseWriter;

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
  /** Whether the connection closes after this response (Python's `close_connection`). */
  closeConnection = true;
  /** The status of this request's response once `sendResponse` (or `sendError`) gave one; 0 before. */
  responseStatus = 0;

  #parser!: HeadParser;
  #timers!: ConnectionTimers;
  /** The response head being built. */
  #head = '';
  /** Whether bytes of this request's response were written. */
  #responseWritten = false;
  /** `wfile.written` where this response's body starts. */
  #bodyStart = 0;
  #logged = false;
  #http11 = true;
  #bodyLength = 0;
  #bodyChunked = false;
  #bodyRead = false;
  /** The client sent `Expect: 100-continue` and waits for the 100 before its body. */
  #continuePending = false;
  /** Requests started on this connection. */
  #requests = 0;
  /** Whether a byte of the current request has arrived. */
  #requestBytes = false;
  /** A timeout cut the request off; nothing more is served on the connection. */
  #cutOff = false;
  /** The server is stopping: close after the response in progress. */
  #closing = false;
  /** When the request head was read (`performance.now()`), for the log's duration; 0 when not timed. */
  #started = 0;

  /**
   * Applies the server's `handlerSettings`, prepares `rfile`, `wfile`, the
   * parser and the timers, and registers the connection with the server.
   * May be extended, do not override.
   */
  override setup(): void {
    const server = this.server as unknown as HTTPServerFields | undefined;
    if (server?.handlerSettings) Object.assign(this, server.handlerSettings);
    super.setup();
    const socket = this.connection;
    this.#timers = new ConnectionTimers(this, socket, this.#expired);
    this.wfile = new ResponseWriter(socket, {
      highWaterMark: this.wbufsize,
      onWrite: () => this.#timers.wrote(),
    });
    this.#parser = new HeadParser(this);
    socket.on('data', this.#onData);
    server?.httpConnections?.add(this);
  }

  /** Stops the timers and unregisters the connection. May be extended, do not override. */
  override async finish(): Promise<void> {
    this.#timers?.stop();
    this.connection?.off('data', this.#onData);
    (this.server as unknown as HTTPServerFields | undefined)?.httpConnections?.delete(this);
    await super.finish();
  }

  /** Serves requests until the connection is to be closed (Python's `handle`). */
  override async handle(): Promise<void> {
    this.closeConnection = true;
    try {
      do {
        await this.handleOneRequest();
      } while (!this.closeConnection && !this.#closing && !this.connection.destroyed);
    } catch (error) {
      if (!isClientFault(error)) throw error;
    }
  }

  /**
   * Reads, checks and serves one request (Python's `handle_one_request`),
   * then logs it; leaves `closeConnection` true when the connection must close.
   */
  async handleOneRequest(): Promise<void> {
    this.#reset();
    try {
      if (!(await this.#readRequest())) return;
      await this.#dispatch();
    } finally {
      this.#logOnce();
    }
    // Writes wait while more than `wbufsize` is unsent; the last response may
    // still be held until the end of this turn (see ResponseWriter).
    if (this.connection.writableLength > this.wbufsize) await this.wfile.flush();
    if (this.#bodyLength > 0 && !this.#bodyRead) await this.#discardBody();
  }

  /**
   * Whether the connection is serving a request, rather than waiting for
   * one (between requests, or connected without having sent a byte).
   */
  get busy(): boolean {
    const phase = this.#timers?.phase;
    if (phase === 'idle') return false;
    return !(phase === 'head' && !this.#requestBytes && this.rfile.bufferedLength === 0);
  }

  /**
   * Closes the connection at once if it waits for a request, or after the
   * response in progress otherwise (a graceful stop; see `HTTPServer`).
   * Core calls it on `shutdown()` and `serverClose()`, in whichever thread
   * or process runs the handler.
   */
  override closeWhenIdle(): void {
    this.#closing = true;
    if (!this.busy) destroyWhenWritten(this.connection);
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

  // -- bodies ---------------------------------------------------------------

  /**
   * Reads the request body, at most `limit` bytes (a larger one throws a 413
   * {@link HTTPError}; a chunked one 411). Sends `100 Continue` first when the
   * client asked for it. A body that ends early throws a 400 `HTTPError`.
   * Once read, later calls return an empty buffer.
   */
  async readBody(limit = this.maxDrainBytes): Promise<Buffer> {
    if (this.#bodyChunked) throw new HTTPError(411, 'Chunked request bodies are not accepted');
    if (this.#bodyRead) return EMPTY;
    if (this.#bodyLength > limit) throw new HTTPError(413, 'Request body too large');
    if (!(await this.handleExpect100())) throw new HTTPError(417, 'Expectation refused');
    this.#bodyRead = true;
    try {
      return await this.rfile.readExactly(this.#bodyLength);
    } catch (error) {
      if (error instanceof IncompleteReadError) {
        throw new HTTPError(400, 'The request body ended before its Content-Length');
      }
      throw error;
    }
  }

  /**
   * Sends `100 Continue` if the client waits for it (Python's
   * `handle_expect_100`), and starts the body's timer. Called by
   * {@link readBody}; call it before reading a body from `rfile` directly.
   * Returns true; an override may answer the request itself and return false.
   */
  async handleExpect100(): Promise<boolean> {
    if (!this.#continuePending) return true;
    this.#continuePending = false;
    await this.wfile.write(Buffer.from(`${statusLine(100)}\r\n`, 'latin1'));
    this.#timers.body(this.#bodyPending());
    return true;
  }

  // -- responses ------------------------------------------------------------

  /** Starts a response: buffers the status line, `Server` and `Date` (Python's `send_response`). */
  sendResponse(code: number, message?: string): void {
    this.responseStatus = code;
    this.#head +=
      message === undefined
        ? this.preparedHeadStart(code, httpDate())
        : `${statusLine(code, message)}${this.#serverLine()}Date: ${httpDate()}\r\n`;
  }

  /** Buffers the status line only (Python's `send_response_only`). */
  sendResponseOnly(code: number, message?: string): void {
    if (code >= 200) this.responseStatus = code;
    this.#head += statusLine(code, message);
  }

  /**
   * Buffers a header field (Python's `send_header`). `Connection: close` or
   * `keep-alive` also sets {@link closeConnection}. CR and LF in the value
   * become spaces.
   */
  sendHeader(name: string, value: string | number): void {
    this.#head += fieldLine(name, value);
    if (name.length === 10 && name.toLowerCase() === 'connection') {
      const lower = String(value).toLowerCase();
      if (lower === 'close') this.closeConnection = true;
      else if (lower === 'keep-alive') this.closeConnection = false;
    }
  }

  /**
   * Ends the header section (Python's `end_headers`): adds `Connection` as
   * the request and settings call for, and writes the head, with `body`
   * after it in the same write when given.
   */
  endHeaders(body?: Uint8Array): Promise<void> {
    // A body never invited (the client waits for a 100) may or may not come: close after.
    if (this.#closing || this.#continuePending) this.closeConnection = true;
    let head = this.#head;
    if (this.closeConnection) head += 'Connection: close\r\n\r\n';
    else if (!this.#http11) head += 'Connection: keep-alive\r\n\r\n';
    else head += '\r\n';
    this.#head = '';
    this.#responseWritten = true;
    this.#bodyStart = this.wfile.written + head.length;
    if (body === undefined || body.length === 0) {
      return this.wfile.write(Buffer.from(head, 'latin1'));
    }
    // One buffer, one write: the head is latin-1, one byte per character.
    const out = Buffer.allocUnsafe(head.length + body.length);
    out.write(head, 0, 'latin1');
    out.set(body, head.length);
    return this.wfile.write(out);
  }

  /**
   * Sends an error page (Python's `send_error`): the status, an HTML page
   * with `message` and `explain` escaped (none for HEAD, 1xx, 204 and 304),
   * and `headers`. Statuses other than 403, 404, 412 and 416 close the
   * connection. Calls {@link logError} with the message.
   */
  async sendError(
    code: number,
    message?: string,
    explain?: string,
    headers: Readonly<Record<string, string>> = {},
  ): Promise<void> {
    const reason = reasonPhrase(code) || '???';
    message ??= reason;
    explain ??= explainStatus(code);
    this.logError(`code ${code}, message ${message}`);
    this.sendResponse(code, reason);
    for (const [name, value] of Object.entries(headers)) this.sendHeader(name, value);
    if (code >= 400 && !KEEP_ALIVE_ERRORS.has(code)) this.closeConnection = true;
    let body: Buffer | undefined;
    if (code >= 200 && code !== 204 && code !== 304) {
      body = Buffer.from(errorPage(code, message, explain));
      this.sendHeader('Content-Type', 'text/html; charset=utf-8');
      this.sendHeader('Content-Length', body.length);
    }
    await this.endHeaders(this.command === 'HEAD' ? undefined : body);
  }

  /** Bytes of this request's response body written so far (for logs). */
  get bodyBytesSent(): number {
    return this.#responseWritten ? Math.max(0, this.wfile.written - this.#bodyStart) : 0;
  }

  /**
   * The status line, `Server` and `Date` of a response as
   * {@link sendResponse} writes them, for responses prepared ahead.
   */
  preparedHeadStart(code: number, date: string): string {
    return `${statusLine(code)}${this.#serverLine()}Date: ${date}\r\n`;
  }

  /**
   * Whether a response prepared ahead (status line to blank line, without
   * `Connection`) fits this request: HTTP/1.1, the connection staying open.
   * Otherwise use {@link endHeaders}, which adds `Connection`.
   */
  canSendPrepared(): boolean {
    return this.#http11 && !this.closeConnection && !this.#closing && !this.#continuePending;
  }

  /**
   * Sends a whole response prepared ahead (see {@link canSendPrepared}), with
   * status `code` and a body of its last `bodyLength` bytes.
   */
  sendPreparedResponse(code: number, response: Uint8Array, bodyLength: number): Promise<void> {
    this.responseStatus = code;
    this.#responseWritten = true;
    this.#bodyStart = this.wfile.written + response.length - bodyLength;
    return this.wfile.write(response);
  }

  #serverVersionSeen = '';
  #serverLineText = '';

  #serverLine(): string {
    const version = this.serverVersion;
    if (version !== this.#serverVersionSeen) {
      this.#serverVersionSeen = version;
      this.#serverLineText = `Server: ${oneLine(version)}\r\n`;
    }
    return this.#serverLineText;
  }

  // -- logging --------------------------------------------------------------

  /**
   * Logs a request once its response is done (Python's `log_request`, which
   * Python calls from `send_response`): `"<request line>" <code> <size>`.
   * May be overridden; `bodyBytesSent` has the body's size.
   */
  logRequest(code: number | string = '-', size: number | string = '-'): void {
    if (this.quiet) return;
    const format = this.logFormat;
    if (format === 'python') {
      this.logMessage(`"${this.requestline}" ${code} ${size}`);
      return;
    }
    this.writeLog(
      accessLine(format, {
        client: this.addressString(),
        date: new Date(),
        requestline: this.requestline,
        method: this.command,
        path: this.path,
        protocol: this.requestVersion,
        status: typeof code === 'number' ? code : this.responseStatus,
        bytes: this.bodyBytesSent,
        duration: this.#started === 0 ? 0 : performance.now() - this.#started,
        referrer: this.headers.get('referer'),
        userAgent: this.headers.get('user-agent'),
      }),
    );
  }

  /**
   * Called with the reason of each error answered by {@link sendError}, and
   * of each connection cut off (a timeout, a body broken off). The default
   * writes nothing: the request's access-log line already has its status,
   * so a bad request costs one line. Python logs it too; override to do so.
   */
  logError(_message: string): void {}

  /**
   * Writes one line to stderr (Python's `log_message`): client, time,
   * message, with control characters and backslashes escaped. Nothing when
   * `quiet`. May be overridden to send the log elsewhere.
   */
  logMessage(message: string): void {
    if (this.quiet) return;
    this.writeLog(logLine(this.addressString(), message));
  }

  /**
   * Writes one finished log line (newline included) to stderr. May be
   * overridden to send the log elsewhere.
   */
  writeLog(line: string): void {
    process.stderr.write(line);
  }

  /** The client's address for the log (Python's `address_string`). */
  addressString(): string {
    return clientName(this.clientAddress);
  }

  /** The current time for a `Date` field (Python's `date_time_string`). */
  dateTimeString(): string {
    return httpDate();
  }

  /** The current time for the log (Python's `log_date_time_string`). */
  logDateTimeString(): string {
    return logDateTimeString();
  }

  // -- internals ------------------------------------------------------------

  #reset(): void {
    this.requestline = '';
    this.command = '';
    this.path = '';
    this.requestVersion = '';
    this.responseStatus = 0;
    this.#head = '';
    this.#responseWritten = false;
    this.#logged = false;
    this.#bodyLength = 0;
    this.#bodyChunked = false;
    this.#bodyRead = false;
    this.#continuePending = false;
    this.#http11 = true;
    this.headers = EMPTY_HEADERS;
    this.#started = 0;
  }

  /** Reads and checks the next request head; false when there is none to serve. */
  async #readRequest(): Promise<boolean> {
    const rfile = this.rfile;
    this.#requestBytes = rfile.bufferedLength > 0;
    if (this.#closing && !this.#requestBytes) {
      destroyWhenWritten(this.connection);
      return false;
    }
    if (this.#requests++ === 0 || this.#requestBytes) this.#timers.head();
    else this.#timers.idle();
    let head: RequestHead | null;
    try {
      head = await readRequestHead(rfile, this.#parser);
    } catch (error) {
      if (!(error instanceof HTTPError)) throw error;
      if (this.#cutOff) return false;
      this.#timers.busy();
      this.requestline = this.#parser.requestline;
      this.closeConnection = true;
      await this.sendError(error.status, error.message, undefined, error.headers);
      return false;
    }
    this.#timers.busy();
    if (head === null || this.#cutOff) {
      this.closeConnection = true;
      return false;
    }
    this.#apply(head);
    return true;
  }

  #apply(head: RequestHead): void {
    if (this.logFormat !== 'python' && !this.quiet) this.#started = performance.now();
    this.requestline = head.requestline;
    this.command = head.command;
    this.path = head.path;
    this.requestVersion = head.requestVersion;
    this.headers = head.headers;
    this.#http11 = head.http11;
    this.#bodyLength = head.contentLength;
    this.#bodyChunked = head.chunked;
    this.closeConnection =
      !head.keepAlive ||
      !this.keepAlive ||
      this.#closing ||
      head.chunked ||
      head.contentLength > this.maxDrainBytes;
  }

  /** Calls the do-method, or answers 501 or 417. */
  async #dispatch(): Promise<void> {
    const method = (this as unknown as Record<string, unknown>)[`do${this.command}`];
    if (typeof method !== 'function') {
      if (this.#bodyLength > 0 || this.#bodyChunked) this.closeConnection = true;
      await this.sendError(501, `Unsupported method (${JSON.stringify(this.command)})`, undefined, {
        Allow: this.allowedMethods().join(', '),
      });
      return;
    }
    if (this.#http11 && this.headers.has('expect')) {
      if (this.headers.get('expect')!.toLowerCase() !== '100-continue') {
        this.closeConnection = true;
        await this.sendError(417);
        return;
      }
      this.#continuePending = this.#bodyLength > 0;
    }
    if (!this.#continuePending && !this.#bodyChunked) this.#timers.body(this.#bodyPending());
    try {
      await method.call(this);
    } catch (error) {
      if (!(error instanceof HTTPError)) throw error;
      await this.#answerHTTPError(error);
    }
  }

  /**
   * An `HTTPError` from a do-method: its error page (which closes the
   * connection unless the status says the request was well formed), or a
   * close once a response was written.
   */
  async #answerHTTPError(error: HTTPError): Promise<void> {
    if (this.#responseWritten || this.connection.destroyed) {
      this.closeConnection = true;
      this.logError(`code ${error.status}, message ${error.message} (after the response began)`);
      destroyWhenWritten(this.connection);
      return;
    }
    this.#head = '';
    await this.sendError(error.status, error.message, undefined, error.headers);
  }

  /** Body bytes that have not arrived yet. */
  #bodyPending(): number {
    return this.#bodyLength - Math.min(this.rfile.bufferedLength, this.#bodyLength);
  }

  /** Reads and drops a body the handler left, or marks the connection for closing. */
  async #discardBody(): Promise<void> {
    if (this.closeConnection || this.#continuePending || this.#bodyLength > this.maxDrainBytes) {
      // Never invited (100-continue), or too large: the client may or may not send it.
      this.closeConnection = true;
      return;
    }
    this.#bodyRead = true;
    await this.rfile.readExactly(this.#bodyLength);
  }

  #logOnce(): void {
    if (this.responseStatus === 0 || this.#logged) return;
    this.#logged = true;
    this.logRequest(this.responseStatus);
  }

  /** Bytes arrived: the timers count them. */
  #onData = (chunk: Buffer): void => {
    this.#requestBytes = true;
    this.#timers.received(chunk.length);
  };

  /** A timer ran out: see `ConnectionTimers`. */
  #expired = (what: Expiry): void => {
    const socket = this.connection;
    if (socket.destroyed) return;
    if (what === 'send') {
      this.logError(
        `no response byte could be sent for ${this.sendTimeout} ms: connection cut off`,
      );
      socket.destroy();
      return;
    }
    this.closeConnection = true;
    if (what === 'idle' || (what === 'head' && !this.#requestBytes)) {
      destroyWhenWritten(socket);
      return;
    }
    this.#cutOff = true;
    this.logError(`the request ${what} was not received in time: connection cut off`);
    if (!this.#responseWritten && !socket.writableEnded) {
      this.requestline ||= this.#parser.requestline || '-';
      this.responseStatus = 408;
      this.#responseWritten = true;
      void this.wfile
        .write(
          Buffer.from(
            `${this.preparedHeadStart(408, httpDate())}Connection: close\r\nContent-Length: 0\r\n\r\n`,
            'latin1',
          ),
        )
        .catch(() => {});
      this.#logOnce();
    }
    socket.end();
    setTimeout(() => socket.destroy(), LINGER_AFTER_TIMEOUT).unref();
  };
}
