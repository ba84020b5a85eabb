/**
 * The echo handlers every @socketserver server in the benchmark runs: the
 * same code under every transport and mode. This module has no side
 * effects at import, so worker threads and child processes can load it.
 *
 * @module
 */
import { DatagramRequestHandler, StreamRequestHandler } from '@socketserver/core';

/** Echoes each line back (Python: `for line in self.rfile: self.wfile.write(line)`). */
export class EchoStreamHandler extends StreamRequestHandler {
  static override moduleUrl = import.meta.url;

  override async handle(): Promise<void> {
    for await (const line of this.rfile) await this.wfile.write(line);
  }
}

/** Echoes the datagram back (Python: `self.wfile.write(self.rfile.read())`). */
export class EchoDatagramHandler extends DatagramRequestHandler {
  static override moduleUrl = import.meta.url;

  override async handle(): Promise<void> {
    await this.wfile.write(await this.rfile.read());
  }
}
