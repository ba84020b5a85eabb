// The same hello on Node's own node:http; prints its port.
import { createServer } from 'node:http';

const BODY = Buffer.from('Hello, World!');
const server = createServer((_request, response) => {
  response.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': BODY.length });
  response.end(BODY);
});
server.keepAliveTimeout = 5000;
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
process.once('SIGTERM', () => server.close(() => process.exit(0)));
