#!/usr/bin/python3
"""A small HTTPS server for the JWKS tests: it answers GET PATH with the
file DIR/NAME, NAME being PATH without its leading "/" and with every
other "/" turned into "_" (404 when missing).  The test changes the
answers by rewriting the files (written to a temporary name and renamed,
so a request never sees half a file).  Optional, per name:

    NAME.cache   the Cache-Control header value
    NAME.delay   milliseconds to wait before answering
    NAME.status  the status code (200 by default)

Every request path is appended to DIR/requests.log.

Usage: jwks_server.py PORT DIR CERT KEY
"""

import http.server
import os
import ssl
import sys
import time


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, fmt, *args):
        pass

    def read(self, name, default=None):
        try:
            with open(os.path.join(DIR, name), "rb") as f:
                return f.read()
        except OSError:
            return default

    def do_GET(self):
        with open(os.path.join(DIR, "requests.log"), "a") as f:
            f.write(self.path + "\n")

        name = self.path.lstrip("/").split("?")[0].replace("/", "_")
        body = self.read(name) if name else None

        delay = self.read(name + ".delay")
        if delay:
            time.sleep(int(delay) / 1000.0)

        if body is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return

        status = int(self.read(name + ".status", b"200"))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        cache = self.read(name + ".cache")
        if cache:
            self.send_header("Cache-Control", cache.decode().strip())
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            pass


PORT = int(sys.argv[1])
DIR = sys.argv[2]

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[3], sys.argv[4])

server = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
server.daemon_threads = True
server.socket = ctx.wrap_socket(server.socket, server_side=True)
server.serve_forever()
