// The floor: node:net answering each request head with fixed bytes, no HTTP parsing; prints its port.
import { createServer } from 'node:net';

const RESPONSE = Buffer.from(
  'HTTP/1.1 200 OK\r\nServer: floor\r\nDate: Mon, 07 Dec 2026 00:00:00 GMT\r\n' +
    'Content-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!',
);
const server = createServer((socket) => {
  socket.setNoDelay(true);
  socket.on('error', () => {});
  socket.on('data', (chunk) => {
    for (let at = chunk.indexOf('\r\n\r\n'); at >= 0; at = chunk.indexOf('\r\n\r\n', at + 4)) {
      socket.write(RESPONSE);
    }
  });
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
