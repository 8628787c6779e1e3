#!/usr/bin/python3
"""Token-checking service for the auth_request peer of `make bench`.

The do-it-yourself pattern: nginx's auth_request sends a subrequest with
the client's Authorization header; this service verifies the HS256 JWT
with PyJWT (signature, exp, nbf, iat) and answers 204 or 401, over
keep-alive HTTP/1.1 connections, in one asyncio process.

    ngx_octopus_bench_authsvc.py PORT SECRET_FILE
"""

import asyncio
import sys

import jwt


def main():
    port = int(sys.argv[1])
    with open(sys.argv[2], 'rb') as f:
        secret = f.read().rstrip(b'\n')

    ok = b'HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n'
    bad = (b'HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n'
           b'Connection: keep-alive\r\n\r\n')

    async def handle(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b'\r\n\r\n')
                token = None
                for line in head.split(b'\r\n')[1:]:
                    name, _, value = line.partition(b':')
                    if name.strip().lower() == b'authorization':
                        value = value.strip()
                        if value[:7].lower() == b'bearer ':
                            token = value[7:].decode('ascii', 'replace')
                good = False
                if token:
                    try:
                        jwt.decode(token, secret, algorithms=['HS256'],
                                   options={'require': ['exp']})
                        good = True
                    except jwt.PyJWTError:
                        good = False
                writer.write(ok if good else bad)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def serve():
        server = await asyncio.start_server(handle, '127.0.0.1', port,
                                            backlog=1024)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


if __name__ == '__main__':
    main()
