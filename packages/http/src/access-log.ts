/**
 * The access log's line format: Python's `http.server` format, escaped so a
 * request cannot forge lines.
 *
 * @module
 */
import type { Address } from '@socketserver/core';
import { escapeLog } from './escape.js';

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
