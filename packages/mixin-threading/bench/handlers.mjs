// Handlers for the benchmarks. Plain ESM with no side effects at import:
// worker threads import this module by its URL.
import { createHash } from 'node:crypto';
import { StreamRequestHandler } from '@socketserver/core';

const BLOCK = Buffer.alloc(1024, 0x5a);

/** Runs `rounds` SHA-256 hashes of 1 KiB (calibrated to about 5 ms). */
export function burn(rounds) {
  let digest = BLOCK;
  for (let i = 0; i < rounds; i++)
    digest = createHash('sha256').update(BLOCK).update(digest).digest();
  return digest;
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
