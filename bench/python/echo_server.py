"""Python's socketserver running the same echo as the Node servers.

    python3 echo_server.py <ServerClass> [unix-socket-path]

Prints ``READY {json}`` once listening, or ``UNAVAILABLE <reason>`` and exits
3 for a class this Python lacks. Exits when stdin closes, so it never
outlives the benchmark (the benchmark also kills its whole process group,
which takes forked children along). Settings are socketserver's defaults
(request_queue_size 5, as ours).
"""

import json
import os
import socket
import socketserver
import sys
import threading


class EchoStreamHandler(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(line)


class EchoDatagramHandler(socketserver.DatagramRequestHandler):
    def handle(self):
        self.wfile.write(self.rfile.read())


def main():
    if len(sys.argv) < 2:
        print("usage: echo_server.py <ServerClass> [path]", file=sys.stderr)
        sys.exit(2)
    name = sys.argv[1]
    cls = getattr(socketserver, name, None)
    if cls is None:
        print(f"UNAVAILABLE socketserver.{name} does not exist in Python {sys.version.split()[0]}",
              flush=True)
        sys.exit(3)
    unix = "Unix" in name
    if unix:
        if len(sys.argv) < 3:
            print("a Unix server needs a path", file=sys.stderr)
            sys.exit(2)
        address = sys.argv[2]
    else:
        address = ("127.0.0.1", 0)
    # UDPServer subclasses TCPServer in Python: tell them apart by socket type.
    stream = cls.socket_type == socket.SOCK_STREAM
    handler = EchoStreamHandler if stream else EchoDatagramHandler
    server = cls(address, handler)
    if unix:
        ready = {"pid": os.getpid(), "path": address}
    else:
        host, port = server.server_address[:2]
        ready = {"pid": os.getpid(), "host": host, "port": port}

    def watch_stdin():
        # The benchmark closed our stdin (or died): stop at once.
        for _ in sys.stdin:
            pass
        os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    print("READY " + json.dumps(ready), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
