// Handlers for the benchmarks. Plain ESM with no side effects at import:
// worker threads import this module by its URL.
import { createHash } from 'node:crypto';
import { StreamRequestHandler } from '@socketserver/core';

const BLOCK = Buffer.alloc(1024, 0x5a);

/**
 * Hashes `rounds` KiB with one SHA-256 (calibrated to about 5 ms). One hash
 * object per request: creating one per KiB would measure OpenSSL 3's
 * algorithm lookup, which takes a process-wide lock, more than hashing.
 */
export function burn(rounds) {
  const hash = createHash('sha256');
  for (let i = 0; i < rounds; i++) hash.update(BLOCK);
  return hash.digest();
}

/** One short request: read a line, burn the CPU, reply with the digest. */
export class CpuHandler extends StreamRequestHandler {
  static moduleUrl = import.meta.url;
  async handle() {
    await this.rfile.readline();
    await this.wfile.write(`${burn(this.server.hashRounds).toString('hex')}\n`);
  }
}

/** A kept connection: echo each line. */
export class EchoHandler extends StreamRequestHandler {
  static moduleUrl = import.meta.url;
  disableNagleAlgorithm = true;
  async handle() {
    for await (const line of this.rfile) await this.wfile.write(line);
  }
}
