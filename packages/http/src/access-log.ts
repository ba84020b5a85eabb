/**
 * The access log's line formats: Python's `http.server` format, the Common
 * and Combined Log Formats, and JSON lines; each escaped so a request
 * cannot forge lines or send terminal escapes.
 *
 * @module
 */
import type { Address } from '@socketserver/core';
import { escapeLog } from './escape.js';

/** The access log's formats: see {@link accessLine}. */
export type LogFormat = 'python' | 'common' | 'combined' | 'json';

/** The formats, in the order `--help` lists them. */
export const LOG_FORMATS: readonly LogFormat[] = ['python', 'common', 'combined', 'json'];

/** What a line of the access log says about a request. */
export interface AccessRecord {
  /** The client (see {@link clientName}). */
  client: string;
  /** When the request was answered. */
  date: Date;
  requestline: string;
  method: string;
  path: string;
  protocol: string;
  status: number;
  /** Bytes of the response body sent. */
  bytes: number;
  /** Milliseconds from the request head's arrival to the response's end. */
  duration: number;
  referrer: string | undefined;
  userAgent: string | undefined;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** The log's time stamp, local time, as Python's `log_date_time_string`: `26/Nov/2026 10:34:14`. */
export function logDateTimeString(date = new Date()): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return (
    `${pad(date.getDate())}/${MONTHS[date.getMonth()]}/${date.getFullYear()} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
  );
}

/** The client as the log names it: its IP address, `unix` for an unnamed Unix peer, or `-`. */
export function clientName(address: Address | undefined | null): string {
  if (typeof address === 'string') return address === '' ? 'unix' : address;
  return address?.host ?? '-';
}

/**
 * One log line, as Python's `log_message` writes it: `client - - [time]
 * message`, with control characters, DEL, C1 characters and backslashes in
 * the message escaped.
 */
export function logLine(client: string, message: string, date = new Date()): string {
  return `${client} - - [${logDateTimeString(date)}] ${escapeLog(message)}\n`;
}

/** The Common Log Format's time stamp, local time with its offset: `07/Dec/2026:10:34:14 +0100`. */
export function commonLogTime(date = new Date()): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  const offset = -date.getTimezoneOffset();
  const zone = `${offset < 0 ? '-' : '+'}${pad(Math.floor(Math.abs(offset) / 60))}${pad(Math.abs(offset) % 60)}`;
  return (
    `${pad(date.getDate())}/${MONTHS[date.getMonth()]}/${date.getFullYear()}:` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())} ${zone}`
  );
}

/** A quoted field of the Common Log Format: escaped as {@link escapeLog}, and `"` as `\"`. */
function quoted(text: string | undefined): string {
  return text === undefined ? '"-"' : `"${escapeLog(text).replace(/"/g, '\\"')}"`;
}

/**
 * One line of the access log in a format other than Python's (which
 * `logMessage` writes), newline included:
 *
 * - `common`: the Common Log Format, `client - - [time] "request" status bytes`
 *   (`-` for no body bytes), local time with its offset;
 * - `combined`: `common`, then `"referrer" "user agent"` (the Combined Log
 *   Format), then the duration in seconds with milliseconds (as nginx's
 *   `$request_time`);
 * - `json`: one object per line: `time` (ISO 8601, UTC), `client`,
 *   `method`, `path`, `protocol`, `status`, `bytes`, `duration_ms`,
 *   `referrer`, `user_agent` (absent fields null).
 */
export function accessLine(format: Exclude<LogFormat, 'python'>, record: AccessRecord): string {
  if (format === 'json') return `${jsonLine(record)}\n`;
  const { client, date, requestline, status, bytes } = record;
  const common = `${client} - - [${commonLogTime(date)}] ${quoted(requestline)} ${status} ${bytes > 0 ? bytes : '-'}`;
  if (format === 'common') return `${common}\n`;
  const seconds = (record.duration / 1000).toFixed(3);
  return `${common} ${quoted(record.referrer)} ${quoted(record.userAgent)} ${seconds}\n`;
}

function jsonLine(record: AccessRecord): string {
  const text = JSON.stringify({
    time: record.date.toISOString(),
    client: record.client,
    method: record.method || null,
    path: record.path || null,
    protocol: record.protocol || null,
    status: record.status,
    bytes: record.bytes,
    duration_ms: Math.round(record.duration * 1000) / 1000,
    referrer: record.referrer ?? null,
    user_agent: record.userAgent ?? null,
  });
  // JSON leaves DEL, C1 controls and the line separators raw: a terminal would act on them.
  return text.replace(
    /[\x7f-\x9f\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
