/**
 * The echo handlers: the code a user copies. One class per socket type,
 * written once and served unchanged by every server in `servers.ts`, in
 * every mode: on the event loop, one at a time, in worker threads, in child
 * processes.
 *
 * This module only defines classes: importing it starts nothing. That is
 * what lets a worker thread or a child process import it to find the
 * handler (`static moduleUrl = import.meta.url` says where it lives).
 *
 * @module
 */
import { DatagramRequestHandler, StreamRequestHandler } from '@socketserver/core';

/** How many bytes of one line the stream handler holds before echoing them (64 KiB). */
export const MAX_CHUNK = 64 * 1024;

/**
 * Echoes a connection line by line (TCP, Unix stream). Each line goes back as
 * soon as it is complete, until the client closes; a last line without a
 * newline goes back at end of stream. A line longer than {@link MAX_CHUNK}
 * is echoed in pieces as it arrives, so memory stays bounded whatever the
 * client sends.
 */
export class EchoStreamHandler extends StreamRequestHandler {
  /** Where worker threads and child processes import this class from. */
  static override moduleUrl = import.meta.url;

  /** Reads lines (or 64 KiB pieces of a longer one) and writes each back. */
  override async handle(): Promise<void> {
    for (;;) {
      const line = await this.rfile.readline(MAX_CHUNK);
      if (line.length === 0) return; // end of stream
      await this.wfile.write(line);
    }
  }
}

/**
 * Echoes a datagram to its sender (UDP, Unix datagram). What `handle` writes
 * to `wfile` is sent back as one datagram when the handler finishes.
 */
export class EchoDatagramHandler extends DatagramRequestHandler {
  /** Where worker threads and child processes import this class from. */
  static override moduleUrl = import.meta.url;

  /** Writes the datagram back; an empty datagram is answered with an empty one. */
  override async handle(): Promise<void> {
    if (this.packet.length === 0) {
      // `wfile` sends nothing when nothing was written, so say it explicitly.
      await this.socket.sendTo(this.packet, this.clientAddress);
      return;
    }
    await this.wfile.write(this.packet);
  }
}
