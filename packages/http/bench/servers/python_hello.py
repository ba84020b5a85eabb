# The same hello on Python's http.server (ThreadingHTTPServer, HTTP/1.1 keep-alive); prints its port.
# As shipped, Nagle's algorithm is on: the body (a second small send after the head) then waits for
# a delayed ACK, some 25 requests per second per connection. With "nodelay" it is off, as in ours.
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BODY = b"Hello, World!"


class Hello(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = sys.argv[1:] == ["nodelay"]

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
print(server.server_address[1], flush=True)
server.serve_forever()
