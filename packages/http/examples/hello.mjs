// A JSON hello service on BaseHTTPRequestHandler, served on the event loop on TCP and a Unix socket.
// node examples/hello.mjs [port] [socket]; curl 127.0.0.1:8000/hi; curl --unix-socket hello.sock x/hi
import { EventLoopMixIn } from '@socketserver/core';
import { BaseHTTPRequestHandler, HTTPServer } from '@socketserver/http';
import { TCPServer } from '@socketserver/transport-inet';
import { UnixStreamServer } from '@socketserver/transport-unix';

class Hello extends BaseHTTPRequestHandler {
  async doGET() {
    const body = Buffer.from(`${JSON.stringify({ hello: 'world', path: this.path })}\n`);
    this.sendResponse(200);
    this.sendHeader('Content-Type', 'application/json');
    this.sendHeader('Content-Length', body.length);
    await this.endHeaders(body);
  }
}

const [port = '8000', path = 'hello.sock'] = process.argv.slice(2);
const servers = await Promise.all([
  EventLoopMixIn(HTTPServer(TCPServer)).create({ host: '127.0.0.1', port: Number(port) }, Hello),
  EventLoopMixIn(HTTPServer(UnixStreamServer)).create(path, Hello, { removeStaleSocket: true }),
]);
console.log(`http://127.0.0.1:${servers[0].serverAddress.port}/ and unix:${path}`);
process.once('SIGINT', () => servers.map((server) => server.shutdown()));
await Promise.all(servers.map((server) => server.serveForever().then(() => server.serverClose())));
