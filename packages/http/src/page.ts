/**
 * The HTML pages the server writes itself: error pages and directory
 * listings share one shell and one style sheet.
 *
 * @module
 */
import { escapeHtml } from './escape.js';

/** The style sheet of every page (system font, readable margins, striped tables). */
const STYLE =
  'body{font-family:system-ui,sans-serif;margin:2em;line-height:1.4}' +
  'table{border-collapse:collapse}td,th{padding:.2em 1em;text-align:left}' +
  'td.size{text-align:right;font-variant-numeric:tabular-nums}tr:nth-child(even){background:#f4f4f4}' +
  'code{font-family:ui-monospace,monospace}';

/**
 * A whole HTML page: `title` (plain text, escaped here) as the title and
 * heading, then `body` (HTML, escaped by the caller).
 */
export function htmlPage(title: string, body: string): string {
  const heading = escapeHtml(title);
  return (
    '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">\n' +
    `<title>${heading}</title>\n<style>\n${STYLE}\n</style>\n</head>\n<body>\n` +
    `<h1>${heading}</h1>\n${body}</body>\n</html>\n`
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
