# Python's side of the benchmark: socketserver.ForkingTCPServer running the
# same echo (every line until end of stream). Prints its port, serves until
# stdin closes.
import socket
import socketserver
import sys
import threading


class EchoLines(socketserver.StreamRequestHandler):
    disable_nagle_algorithm = True

    def handle(self):
        for line in self.rfile:
            self.wfile.write(line)


class Server(socketserver.ForkingTCPServer):
    request_queue_size = 128


server = Server(("127.0.0.1", 0), EchoLines)
sys.stdout.write(f"{server.server_address[1]}\n")
sys.stdout.flush()
threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
sys.stdin.read()
server.shutdown()
server.block_on_close = False
server.server_close()
