// A benchmark server: `node bench/server.mjs forking|eventloop`. Prints its
// port, serves until stdin closes (the runner ends it), then closes.
import { EventLoopMixIn } from '@socketserver/core';
import { ForkingMixIn } from '@socketserver/mixin-forking';
import { TCPServer } from '@socketserver/transport-inet';
import { EchoLines } from './handlers.mjs';

const mode = process.argv[2];
const Base = mode === 'forking' ? ForkingMixIn(TCPServer) : EventLoopMixIn(TCPServer);
class Server extends Base {}
const server = await Server.create({ host: '127.0.0.1', port: 0 }, EchoLines, {
  requestQueueSize: 128,
});
const serving = server.serveForever({ pollInterval: 100 });
process.stdout.write(`${server.serverAddress.port}\n`);
process.stdin.resume();
process.stdin.on('end', async () => {
  await server.shutdown();
  await serving;
  // Connections still open are the load generator's, which has exited.
  await server.serverClose();
  process.exit(0);
});
