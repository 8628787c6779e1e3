#!/usr/bin/python3
"""Echo backend for the integration tests.

Answers every request with JSON describing what it received, so a test can
assert exactly what the upstream saw:

    {"method", "uri", "path", "args", "headers": {lc-name: value},
     "header_list": [[name, value], ...], "body"}

Request headers that steer the answer:
    X-Test-Status: N       answer with status N
    X-Test-Body-Bytes: N   answer with N bytes of body instead of the echo
    X-Test-Delay-Ms: N     wait N ms before answering
    X-Test-Response-Header: Name: value
                           add that header to the answer (repeatable)

Usage: backend.py PORT [PIDFILE]
"""

import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""

        delay = int(self.headers.get("X-Test-Delay-Ms") or 0)
        if delay > 0:
            time.sleep(delay / 1000.0)

        status = int(self.headers.get("X-Test-Status") or 200)
        nbytes = self.headers.get("X-Test-Body-Bytes")

        if nbytes is not None:
            out = b"x" * int(nbytes)
            ctype = "application/octet-stream"
        else:
            path, _, args = self.path.partition("?")
            headers = {}
            for name, value in self.headers.items():
                key = name.lower()
                headers[key] = (headers[key] + ", " + value
                                if key in headers else value)
            out = json.dumps({
                "method": self.command,
                "uri": self.path,
                "path": path,
                "args": args,
                "headers": headers,
                "header_list": [[n, v] for n, v in self.headers.items()],
                "body": body.decode("utf-8", "backslashreplace"),
            }).encode()
            ctype = "application/json"

        self.send_response(status)
        for extra in self.headers.get_all("X-Test-Response-Header") or []:
            name, _, value = extra.partition(":")
            self.send_header(name.strip(), value.strip())
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any
    do_HEAD = do_OPTIONS = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def main():
    port = int(sys.argv[1])
    server = Server(("127.0.0.1", port), Echo)
    if len(sys.argv) > 2:
        with open(sys.argv[2], "w") as f:
            f.write(str(os.getpid()))
    server.serve_forever()


if __name__ == "__main__":
    main()
