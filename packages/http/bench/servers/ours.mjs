// The hello handler on BaseHTTPRequestHandler, on the event loop; prints its port.
import { EventLoopMixIn } from '@socketserver/core';
import { BaseHTTPRequestHandler, HTTPServer } from '@socketserver/http';
import { TCPServer } from '@socketserver/transport-inet';

const BODY = Buffer.from('Hello, World!');

class Hello extends BaseHTTPRequestHandler {
  quiet = true;

  doGET() {
    this.sendResponse(200);
    this.sendHeader('Content-Type', 'text/plain');
    this.sendHeader('Content-Length', BODY.length);
    return this.endHeaders(BODY);
  }
}

const server = await EventLoopMixIn(HTTPServer(TCPServer)).create(
  { host: '127.0.0.1', port: 0 },
  Hello,
);
console.log(server.serverAddress.port);
process.once('SIGTERM', () => server.shutdown());
await server.serveForever();
await server.serverClose();
