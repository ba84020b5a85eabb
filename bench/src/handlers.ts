/**
 * The echo handlers every @socketserver server in the benchmark runs: the
 * same code under every transport and mode. This module has no side
 * effects at import, so worker threads and child processes can load it.
 *
 * @module
 */
import { createHash } from 'node:crypto';
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

/**
 * A CPU-bound echo: each line costs `hashRounds` SHA-256 rounds (a server
 * field, calibrated by the runner to about 5 ms), then comes back.
 */
export class CpuEchoHandler extends StreamRequestHandler {
  static override moduleUrl = import.meta.url;

  override async handle(): Promise<void> {
    const rounds = (this.server as unknown as { hashRounds?: number }).hashRounds ?? 0;
    for await (const line of this.rfile) {
      burn(rounds);
      await this.wfile.write(line);
    }
  }
}

/** `rounds` SHA-256 rounds over a 32-byte digest: the benchmark's unit of CPU work. */
export function burn(rounds: number): Buffer {
  let digest = Buffer.alloc(32);
  for (let i = 0; i < rounds; i++) digest = createHash('sha256').update(digest).digest();
  return digest;
}
