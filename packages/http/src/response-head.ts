/**
 * The text of a response head: status lines, dates, field lines.
 *
 * @module
 */
import { STATUS_CODES } from 'node:http';

let cachedDate = '';
let cachedSecond = 0;

/** The time as an IMF-fixdate (RFC 9110 §5.6.7), cached for the current second. */
export function httpDate(now = Date.now()): string {
  const second = Math.floor(now / 1000);
  if (second !== cachedSecond) {
    cachedSecond = second;
    cachedDate = new Date(second * 1000).toUTCString();
  }
  return cachedDate;
}

/** The standard reason phrase of a status, or `''`. */
export function reasonPhrase(code: number): string {
  return STATUS_CODES[code] ?? '';
}

const statusLines = new Map<number, string>();

/** `HTTP/1.1 <code> <reason>\r\n`: the standard reason unless `message` is given, CR and LF made spaces. */
export function statusLine(code: number, message?: string): string {
  if (message !== undefined) return `HTTP/1.1 ${code} ${oneLine(message)}\r\n`;
  let line = statusLines.get(code);
  if (line === undefined) {
    line = `HTTP/1.1 ${code} ${reasonPhrase(code)}\r\n`;
    if (statusLines.size < 1000) statusLines.set(code, line);
  }
  return line;
}

/** `name: value\r\n`, CR and LF in the value made spaces (a value cannot end the head early). */
export function fieldLine(name: string, value: string | number): string {
  const text = typeof value === 'number' ? String(value) : oneLine(value);
  return `${name}: ${text}\r\n`;
}

/** `text` with CR and LF replaced by spaces. */
export function oneLine(text: string): string {
  return text.includes('\r') || text.includes('\n') ? text.replace(/[\r\n]/g, ' ') : text;
}

/** Explanations for error pages (Python's `BaseHTTPRequestHandler.responses`, shortened). */
const EXPLAIN: Readonly<Record<number, string>> = {
  400: 'Bad request syntax or unsupported method.',
  403: 'Request forbidden -- authorization will not help.',
  404: 'Nothing matches the given URI.',
  408: 'The request was not received in time.',
  411: 'Client must specify Content-Length.',
  412: 'A precondition given in the request evaluated to false.',
  413: 'Entity is too large.',
  414: 'The request line is too long.',
  416: 'Cannot satisfy request range.',
  417: 'Expect condition could not be satisfied.',
  431: 'The header section is too large.',
  500: 'Server got itself in trouble.',
  501: 'Server does not support this operation.',
  505: 'Cannot fulfill request.',
};

/** The error page's explanation of a status, or `''`. */
export function explainStatus(code: number): string {
  return EXPLAIN[code] ?? '';
}
