"""An independent datagram client for the echo tests (Python's socket module).

    python3 dgram_client.py inet HOST PORT SIZE...
    python3 dgram_client.py unix SERVER_PATH CLIENT_PATH SIZE...

Sends one datagram of random bytes per SIZE, one at a time, waits for each
echo (20 s at most) and checks it byte for byte. SIZE may be SENT:EXPECTED:
the echo must then be the first EXPECTED bytes (a truncated datagram).
Prints "ok N" and exits 0, or prints what differed and exits 1.
"""
import os
import socket
import sys


def main(argv):
    kind = argv[1]
    if kind == "inet":
        host, port, sizes = argv[2], int(argv[3]), argv[4:]
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        server = (host, port)
    elif kind == "unix":
        server, client, sizes = argv[2], argv[3], argv[4:]
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(client)  # a Unix datagram client needs a name to be answered
    else:
        raise SystemExit("usage: dgram_client.py inet|unix ...")
    # Room for the largest datagram in both directions.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.settimeout(20)
    try:
        for spec in sizes:
            sent, _, expected = spec.partition(":")
            size = int(sent)
            keep = int(expected) if expected else size
            payload = os.urandom(size)
            sock.sendto(payload, server)
            reply = sock.recv(1 << 20)
            if reply != payload[:keep]:
                print(f"size {spec}: got {len(reply)} bytes back, differing", flush=True)
                return 1
        print(f"ok {len(sizes)}", flush=True)
        return 0
    finally:
        sock.close()
        if kind == "unix":
            os.unlink(client)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
