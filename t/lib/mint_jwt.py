#!/usr/bin/python3
"""Mint JWTs for the auth tests with PyJWT (an implementation independent
of the module under test), plus hand-made malformed tokens.

Usage: mint_jwt.py JSON
  JSON: {"alg": "HS256", "key_file": path | "key": str | "key_b64url": str,
         "headers": {...}, "claims": {...}, "now_offsets": {"exp": 300},
         "raw": "none" | "none_upper" | "hs_with_pem" (see below)}
  now_offsets: claims set to now + offset (seconds)
Prints the token on stdout.
"""

import base64
import json
import sys
import time

import jwt
from cryptography.hazmat.primitives import hashes, hmac


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def main():
    spec = json.loads(sys.argv[1])
    claims = dict(spec.get("claims", {}))
    now = int(time.time())
    for name, off in spec.get("now_offsets", {}).items():
        claims[name] = now + off
    headers = spec.get("headers", {})
    alg = spec.get("alg", "HS256")

    if "key_file" in spec:
        with open(spec["key_file"], "rb") as f:
            key = f.read()
        if alg.startswith("HS"):
            key = key.rstrip(b"\r\n")
    elif "key_b64url" in spec:
        s = spec["key_b64url"]
        key = base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
    else:
        key = spec.get("key", "").encode()

    raw = spec.get("raw")
    if raw in ("none", "none_upper", "hs_with_pem"):
        # PyJWT refuses these on purpose: build them by hand
        hdr = {"typ": "JWT"}
        hdr.update(headers)
        hdr["alg"] = {"none": "none", "none_upper": "NONE",
                      "hs_with_pem": "HS256"}[raw]
        signing = (b64(json.dumps(hdr).encode()) + "."
                   + b64(json.dumps(claims).encode()))
        sig = ""
        if raw == "hs_with_pem":
            h = hmac.HMAC(key, hashes.SHA256())
            h.update(signing.encode())
            sig = b64(h.finalize())
        print(signing + "." + sig)
        return

    print(jwt.encode(claims, key, algorithm=alg, headers=headers or None))


if __name__ == "__main__":
    main()
