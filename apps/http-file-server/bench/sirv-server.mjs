// The peer for bench/run.mjs: sirv (production mode) on node:http, serving
// argv[2] on 127.0.0.1, port 0, with its precompressed .br/.gz files; prints
// the port on stdout.
import { createServer } from 'node:http';
import sirv from 'sirv';

const serve = sirv(process.argv[2], { dev: false, etag: true, brotli: true, gzip: true });
const server = createServer((req, res) => serve(req, res));
server.keepAliveTimeout = 5000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${server.address().port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
