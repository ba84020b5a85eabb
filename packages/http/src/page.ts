/**
 * The HTML pages the server writes itself: error pages and directory
 * listings share one shell and one style sheet.
 *
 * @module
 */
import { escapeHtml } from './escape.js';

/**
 * The style sheet of every page: system font, readable margins, striped
 * tables, and dark colours when the reader's system asks for them
 * (`prefers-color-scheme`).
 */
const STYLE =
  ':root{color-scheme:light dark}' +
  'body{font-family:system-ui,sans-serif;margin:2em;line-height:1.4;background:#fff;color:#1a1a1a}' +
  'a{color:#0645ad}table{border-collapse:collapse}td,th{padding:.2em 1em;text-align:left}' +
  'th a{color:inherit;text-decoration:none}th a:hover{text-decoration:underline}' +
  'td.size{text-align:right;font-variant-numeric:tabular-nums}tr:nth-child(even){background:#f4f4f4}' +
  'h1 a{color:inherit}code{font-family:ui-monospace,monospace}' +
  '@media (prefers-color-scheme:dark){body{background:#161616;color:#e4e4e4}' +
  'a{color:#8ab4f8}a:visited{color:#c58af9}tr:nth-child(even){background:#242424}}';

/**
 * A whole HTML page: `title` (plain text, escaped here) as the title and
 * heading, then `body` (HTML, escaped by the caller). `heading` (HTML,
 * escaped by the caller) replaces the heading's text when given, for
 * example with links; it should read as `title` does.
 */
export function htmlPage(title: string, body: string, heading?: string): string {
  const text = escapeHtml(title);
  return (
    '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">\n' +
    `<title>${text}</title>\n<style>\n${STYLE}\n</style>\n</head>\n<body>\n` +
    `<h1>${heading ?? text}</h1>\n${body}</body>\n</html>\n`
  );
}

/**
 * An error page (Python's `error_message_format`): the code, the message
 * and the explanation, everything the client may have sent escaped.
 */
export function errorPage(code: number, message: string, explain: string): string {
  return htmlPage(
    'Error response',
    `<p>Error code: ${code}</p>\n<p>Message: ${escapeHtml(message)}.</p>\n` +
      `<p>Error code explanation: ${code} - ${escapeHtml(explain)}</p>\n`,
  );
}
