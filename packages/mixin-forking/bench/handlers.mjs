// The benchmark's handler: echo every line until end of stream (the same
// handler Python's side runs). A module without side effects, so children
// can import it.
import { StreamRequestHandler } from '@socketserver/core';

export class EchoLines extends StreamRequestHandler {
  static moduleUrl = import.meta.url;
  disableNagleAlgorithm = true;
  async handle() {
    for await (const line of this.rfile) await this.wfile.write(line);
  }
}
