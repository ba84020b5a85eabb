/**
 * Escaping for HTML pages, URLs and log lines.
 *
 * @module
 */

const HTML: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#x27;',
};

/** Escapes `& < > " '` for HTML text and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML[c]!);
}

/**
 * Escapes a log message as Python's `log_message` does: C0 and C1 control
 * characters and DEL become `\xNN`, a backslash becomes `\\`, so a request
 * cannot forge log lines or send terminal escapes.
 */
export function escapeLog(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
  return text.replace(/[\x00-\x1f\x7f-\x9f\\]/g, (c) =>
    c === '\\' ? '\\\\' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}

const UNRESERVED = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~') {
  UNRESERVED[c.charCodeAt(0)] = 1;
}
const HEX = '0123456789ABCDEF';

/**
 * Percent-encodes every byte of a path segment except RFC 3986's
 * unreserved characters, so a file name with spaces, `#`, `?`, `%`, `:`,
 * quotes or any non-ASCII or undecodable byte becomes a safe relative link.
 */
export function encodeSegment(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) {
    out += UNRESERVED[b] ? String.fromCharCode(b) : `%${HEX[b >> 4]}${HEX[b & 15]}`;
  }
  return out;
}
