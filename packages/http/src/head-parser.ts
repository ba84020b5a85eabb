/**
 * The request head parser (RFC 9112 §2-§6): pure, fed one line at a time
 * as `rfile.readline(limit)` returns them, so each line is checked as it
 * arrives. A malformed request line is refused before any header field is
 * waited for.
 *
 * @module
 */
import type { Reader } from '@socketserver/core';
import { Headers } from './headers.js';
import { HTTPError } from './http-error.js';

/** The bounds a request head must keep. */
export interface HeadLimits {
  /** Longest request line, CRLF excluded; longer gets 414. */
  maxRequestLine: number;
  /** Largest header section, every field line and its CRLF counted; larger gets 431. */
  maxHeaderBytes: number;
  /** Most header fields; more gets 431. */
  maxHeaders: number;
}

/** A request head that passed every check. */
export interface RequestHead {
  /** The request line, latin-1 decoded, CRLF removed. */
  requestline: string;
  /** The method, for example `GET`. */
  command: string;
  /** The request target as received. */
  path: string;
  /** The version as received, for example `HTTP/1.1`. */
  requestVersion: string;
  /** Whether the version is HTTP/1.1 or a later 1.x. */
  http11: boolean;
  /** The header fields. */
  headers: Headers;
  /** The body length from `Content-Length` (0 without one). */
  contentLength: number;
  /** Whether the body is chunked (`Transfer-Encoding` ending in `chunked`). */
  chunked: boolean;
  /** Whether the client lets the connection stay open after the response (RFC 9112 §9.3). */
  keepAlive: boolean;
}

/** What {@link HeadParser.feed} returns when the head is not complete yet. */
export const MORE = 'more';
/** What {@link HeadParser.feed} returns when the peer closed before the head was complete. */
export const CLOSED = 'closed';

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const VERSION = /^HTTP\/(\d)\.(\d)$/;
// Field values: visible ASCII, SP, HTAB and obs-text; no other control.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control bytes is the point.
const BAD_FIELD_BYTE = /[\x00-\x08\x0a-\x1f\x7f]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control bytes is the point.
const BAD_TARGET_BYTE = /[\x00-\x20\x7f]/;
/**
 * `Host` (RFC 9112 §3.2): `uri-host [ ":" port ]` of RFC 3986, where
 * uri-host is an IP literal in brackets or a reg-name (unreserved,
 * percent-encoded or sub-delims; empty allowed).
 */
const HOST =
  /^(?:\[(?:[0-9A-Fa-f:.]+|v[0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+)\]|(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*)(?::\d*)?$/;
/** Empty lines ignored before a request line (RFC 9112 §2.2 asks for at least one). */
const MAX_LEADING_BLANK_LINES = 4;

/** Whether `value` is a valid `Host` field value (RFC 9112 §3.2). */
export function isValidHost(value: string): boolean {
  return HOST.test(value);
}

/**
 * Parses one request head, line by line. Feed it what
 * `rfile.readline(parser.lineLimit)` returns until it gives a
 * {@link RequestHead} (or {@link CLOSED}); it throws an {@link HTTPError}
 * (400, 414, 431 or 505) at the first line that breaks a rule. Reusable
 * after {@link reset}.
 */
export class HeadParser {
  /** The request line as far as it is known, for the log (`''` before one arrived). */
  requestline = '';
  readonly #limits: HeadLimits;
  #haveLine = false;
  #blankLines = 0;
  #budget = 0;
  #fieldCount = 0;
  #command = '';
  #path = '';
  #version = '';
  #http11 = true;
  #headers = new Headers();

  /** @param limits - the bounds; read on each {@link reset}. */
  constructor(limits: HeadLimits) {
    this.#limits = limits;
    this.reset();
  }

  /** Forgets the previous head. */
  reset(): void {
    this.requestline = '';
    this.#haveLine = false;
    this.#blankLines = 0;
    this.#budget = this.#limits.maxHeaderBytes;
    this.#fieldCount = 0;
    this.#headers = new Headers();
  }

  /** Whether the request line has been taken (the head has started). */
  get started(): boolean {
    return this.#haveLine;
  }

  /** The `limit` for the next `readline`: one byte more than the next line may have. */
  get lineLimit(): number {
    return this.#haveLine ? this.#budget + 1 : this.#limits.maxRequestLine + 2;
  }

  /**
   * Takes the next line (as `readline(lineLimit)` returned it: an empty
   * buffer at end of stream, a line without LF when the limit was hit or the
   * peer closed mid-line).
   */
  feed(line: Buffer): RequestHead | typeof MORE | typeof CLOSED {
    if (line.length === 0) return CLOSED;
    return this.#haveLine ? this.#field(line) : this.#requestLine(line);
  }

  #requestLine(line: Buffer): typeof MORE | typeof CLOSED {
    const length = line.length;
    if (line[length - 1] !== 0x0a) {
      if (length < this.lineLimit) return CLOSED; // the peer stopped mid-line
      this.requestline = line.toString('latin1', 0, 64);
      throw new HTTPError(414, 'Request line too long');
    }
    if (length === 2 && line[0] === 0x0d && this.#blankLines++ < MAX_LEADING_BLANK_LINES) {
      return MORE;
    }
    this.requestline = line.toString('latin1', 0, length - (line[length - 2] === 0x0d ? 2 : 1));
    const text = checkLine(line, 'request line', this.requestline);
    const words = text.split(' ');
    if (words.length === 2 && words[1] !== '') {
      throw new HTTPError(400, `Bad request version: HTTP/0.9 is not supported (${text})`);
    }
    if (words.length !== 3) throw new HTTPError(400, `Bad request syntax (${text})`);
    const [command, target, version] = words as [string, string, string];
    if (!TOKEN.test(command)) throw new HTTPError(400, `Bad request method (${command})`);
    if (version === 'HTTP/1.1') {
      this.#http11 = true;
    } else {
      const match = VERSION.exec(version);
      if (!match) throw new HTTPError(400, `Bad request version (${version})`);
      if (match[1] !== '1') throw new HTTPError(505, `Invalid HTTP version (${version})`);
      this.#http11 = match[2] !== '0';
    }
    if (target === '' || BAD_TARGET_BYTE.test(target)) {
      throw new HTTPError(400, `Bad request target (${target})`);
    }
    this.#command = command;
    this.#path = target;
    this.#version = version;
    this.#haveLine = true;
    return MORE;
  }

  #field(line: Buffer): RequestHead | typeof MORE | typeof CLOSED {
    const length = line.length;
    if (line[length - 1] !== 0x0a) {
      if (length <= this.#budget) return CLOSED;
      throw new HTTPError(431, 'Line too long');
    }
    if (length === 2 && line[0] === 0x0d) return this.#complete();
    if (length === 1) throw new HTTPError(400, 'Bare LF in the header section');
    this.#budget -= length;
    if (++this.#fieldCount > this.#limits.maxHeaders) {
      throw new HTTPError(431, 'Too many headers');
    }
    const text = checkLine(line, 'header field');
    if (text[0] === ' ' || text[0] === '\t') {
      throw new HTTPError(400, 'Obsolete line folding is not accepted');
    }
    const colon = text.indexOf(':');
    const name = colon > 0 ? text.slice(0, colon) : '';
    if (!TOKEN.test(name)) throw new HTTPError(400, `Bad header field (${text})`);
    this.#headers.append(name, trimOWS(text, colon + 1));
    return MORE;
  }

  /** The blank line arrived: checks the fields that frame the message. */
  #complete(): RequestHead {
    const headers = this.#headers;
    const http11 = this.#http11;
    const hosts = headers.getAll('host');
    if (http11 && hosts.length !== 1) {
      throw new HTTPError(400, 'An HTTP/1.1 request needs exactly one Host header');
    }
    if (hosts.length > 1) throw new HTTPError(400, 'More than one Host header');
    if (hosts.length === 1 && !isValidHost(hosts[0]!)) {
      throw new HTTPError(400, `Invalid Host header (${hosts[0]})`);
    }
    let contentLength = 0;
    let chunked = false;
    const lengths = headers.getAll('content-length');
    const encodings = headers.getAll('transfer-encoding');
    if (encodings.length > 0) {
      if (lengths.length > 0) {
        throw new HTTPError(400, 'Both Content-Length and Transfer-Encoding were sent');
      }
      if (!http11) throw new HTTPError(400, 'Transfer-Encoding in an HTTP/1.0 request');
      const codings = encodings
        .join(',')
        .split(',')
        .map((coding) => coding.trim().toLowerCase());
      if (codings[codings.length - 1] !== 'chunked') {
        throw new HTTPError(400, 'Transfer-Encoding does not end with chunked');
      }
      chunked = true;
    } else if (lengths.length > 0) {
      if (lengths.length > 1 || !/^\d{1,15}$/.test(lengths[0]!)) {
        throw new HTTPError(400, 'Invalid or duplicate Content-Length');
      }
      contentLength = Number(lengths[0]);
    }
    const connection = headers.has('connection') ? headers.tokens('connection') : [];
    const keepAlive = connection.includes('close')
      ? false
      : http11 || connection.includes('keep-alive');
    return {
      requestline: this.requestline,
      command: this.#command,
      path: this.#path,
      requestVersion: this.#version,
      http11,
      headers,
      contentLength,
      chunked,
      keepAlive,
    };
  }
}

/**
 * Reads one request head from `rfile` through `parser` (reset first):
 * the head, or null when the peer closed before a whole head arrived.
 * Throws the parser's {@link HTTPError}.
 */
export async function readRequestHead(
  rfile: Reader,
  parser: HeadParser,
): Promise<RequestHead | null> {
  parser.reset();
  for (;;) {
    const result = parser.feed(await rfile.readline(parser.lineLimit));
    if (result === CLOSED) return null;
    if (result !== MORE) return result;
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

/** `text` from `start`, without the optional whitespace (SP, HTAB) around a field value. */
function trimOWS(text: string, start: number): string {
  let end = text.length;
  while (start < end && (text[start] === ' ' || text[start] === '\t')) start++;
  while (end > start && (text[end - 1] === ' ' || text[end - 1] === '\t')) end--;
  return text.slice(start, end);
}
