/**
 * Sending a file's bytes as a response body: small ones in one write with
 * the head, large ones streamed with backpressure, several ranges as
 * `multipart/byteranges`. Never more than two chunks of a file in memory
 * per connection.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { readSync } from 'node:fs';
import { ClosedError } from '@socketserver/core';
import type { BaseHTTPRequestHandler } from './base-http-request-handler.js';
import type { ByteRange } from './ranges.js';
import { destroyWhenWritten } from './response-writer.js';

/** Where a body's bytes come from: the file's bytes in memory, else its open descriptor. */
export interface ByteSource {
  readonly body: Buffer | null;
  readonly fd: number;
}

/** Bodies up to this size are read in one call and sent with the head in one write. */
const SMALL_BODY = 64 * 1024;
/** The size of each of the two reused buffers a large body streams through. */
const STREAM_CHUNK = 256 * 1024;
const DONE = Promise.resolve();

/**
 * Ends the head and sends `length` bytes from `start` (none when
 * `withBody` is false): in the head's write when small. If the file shrank
 * since it was measured, what there is is sent and the connection closed,
 * since the promised `Content-Length` cannot be met.
 */
export async function sendBytes(
  handler: BaseHTTPRequestHandler,
  source: ByteSource,
  start: number,
  length: number,
  withBody: boolean,
): Promise<void> {
  if (!withBody || length === 0) {
    await handler.endHeaders();
    return;
  }
  if (source.body !== null) {
    await handler.endHeaders(source.body.subarray(start, start + length));
    return;
  }
  if (length <= SMALL_BODY) {
    const buffer = Buffer.allocUnsafe(length);
    const bytesRead = readSync(source.fd, buffer, 0, length, start);
    await handler.endHeaders(bytesRead === length ? buffer : buffer.subarray(0, bytesRead));
    if (bytesRead !== length) cutShort(handler);
    return;
  }
  await handler.endHeaders();
  await streamBytes(handler, source.fd, start, length);
}

/**
 * Streams `length` bytes from `start` of `fd` through two reused buffers of
 * `STREAM_CHUNK` bytes: a buffer is refilled only once the socket has
 * handed its previous contents to the kernel, so a connection never holds
 * more than two chunks in user space, and nothing is allocated per chunk.
 * Reads are synchronous, from the descriptor that was checked (never the
 * path again). If the file shrank meanwhile, the connection is closed.
 */
export async function streamBytes(
  handler: BaseHTTPRequestHandler,
  fd: number,
  start: number,
  length: number,
): Promise<void> {
  const socket = handler.connection;
  const size = Math.min(STREAM_CHUNK, length);
  const buffers = [Buffer.allocUnsafe(size), Buffer.allocUnsafe(size)] as const;
  const released: [Promise<void>, Promise<void>] = [DONE, DONE];
  let sent = 0;
  let turn = 0;
  while (sent < length) {
    await released[turn];
    if (socket.destroyed || socket.writableEnded) throw new ClosedError('the connection');
    const buffer = buffers[turn]!;
    const count = readSync(fd, buffer, 0, Math.min(size, length - sent), start + sent);
    if (count === 0) break;
    sent += count;
    released[turn] = handler.wfile.writeChunk(
      count === buffer.length ? buffer : buffer.subarray(0, count),
    );
    turn ^= 1;
  }
  await Promise.all(released);
  if (sent !== length) cutShort(handler);
}

/** A `multipart/byteranges` body, worked out before its head is sent. */
export interface MultipartPlan {
  /** The `Content-Type`, with its boundary. */
  readonly contentType: string;
  /** The exact `Content-Length`. */
  readonly length: number;
  readonly ranges: readonly ByteRange[];
  /** Each part's head (boundary, `Content-Type`, `Content-Range`). */
  readonly heads: readonly string[];
  /** The closing boundary. */
  readonly tail: string;
}

/** Plans a `multipart/byteranges` body for `ranges` of a `size`-byte representation of `type`. */
export function planMultipart(
  ranges: readonly ByteRange[],
  type: string,
  size: number,
): MultipartPlan {
  const boundary = randomBytes(12).toString('hex');
  const heads = ranges.map(
    ({ start, end }, i) =>
      `${i === 0 ? '' : '\r\n'}--${boundary}\r\nContent-Type: ${type}\r\n` +
      `Content-Range: bytes ${start}-${end}/${size}\r\n\r\n`,
  );
  const tail = `\r\n--${boundary}--\r\n`;
  let length = Buffer.byteLength(tail);
  ranges.forEach(({ start, end }, i) => {
    length += Buffer.byteLength(heads[i]!) + end - start + 1;
  });
  return {
    contentType: `multipart/byteranges; boundary=${boundary}`,
    length,
    ranges,
    heads,
    tail,
  };
}

/** Ends the head and sends a planned `multipart/byteranges` body (none when `withBody` is false). */
export async function sendMultipart(
  handler: BaseHTTPRequestHandler,
  source: ByteSource,
  plan: MultipartPlan,
  withBody: boolean,
): Promise<void> {
  await handler.endHeaders();
  if (!withBody) return;
  for (const [i, { start, end }] of plan.ranges.entries()) {
    await handler.wfile.write(Buffer.from(plan.heads[i]!));
    if (source.body !== null) await handler.wfile.write(source.body.subarray(start, end + 1));
    else await streamBytes(handler, source.fd, start, end - start + 1);
  }
  await handler.wfile.write(Buffer.from(plan.tail));
}

/** The body could not be sent whole: close, so the client sees it was cut short. */
function cutShort(handler: BaseHTTPRequestHandler): void {
  handler.closeConnection = true;
  destroyWhenWritten(handler.connection);
}
