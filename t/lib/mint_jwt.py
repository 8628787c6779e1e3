#!/usr/bin/python3
"""Mint JWTs for the auth tests with PyJWT (an implementation independent
of the module under test), plus hand-made malformed tokens.

Usage: mint_jwt.py JSON
  JSON: a spec, or an array of specs (one token printed per line); a spec:
        {"alg": "HS256", "key_file": path | "key": str | "key_b64url": str,
         "headers": {...}, "claims": {...}, "now_offsets": {"exp": 300},
         "raw": "none" | "none_upper" | "hs_with_pem" (see below)}
  now_offsets: claims set to now + offset (seconds)
Prints the token on stdout.

       mint_jwt.py --jwks ALG:PATH:KID ...   prints a JWKS (PyJWT to_jwk)
"""

import base64
import json
import sys
import time

import jwt
from cryptography.hazmat.primitives import hashes, hmac


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(spec):
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
        return signing + "." + sig

    return jwt.encode(claims, key, algorithm=alg, headers=headers or None)


def jwk(alg, path, kid):
    """JWK of a PEM public key (or an HMAC secret file), via PyJWT."""
    with open(path, "rb") as f:
        data = f.read()
    if alg.startswith("HS"):
        out = json.loads(jwt.algorithms.HMACAlgorithm.to_jwk(
            data.rstrip(b"\r\n")))
    else:
        from cryptography.hazmat.primitives.serialization import \
            load_pem_public_key
        pub = load_pem_public_key(data)
        cls = (jwt.algorithms.RSAAlgorithm if alg.startswith("RS")
               else jwt.algorithms.ECAlgorithm)
        out = json.loads(cls.to_jwk(pub))
        if out["kty"] == "EC":
            # PyJWT 2.6 writes a coordinate as an integer, one byte short
            # when its top byte is zero (1 key in 128); RFC 7518 6.2.1.2
            # wants the full size, which is what our parser demands
            size = (pub.curve.key_size + 7) // 8
            nums = pub.public_numbers()
            out["x"] = b64(nums.x.to_bytes(size, "big"))
            out["y"] = b64(nums.y.to_bytes(size, "big"))
    out["kid"] = kid
    out["alg"] = alg
    out["use"] = "sig"
    return out


def main():
    if sys.argv[1] == "--jwks":
        # --jwks ALG:PATH:KID ...  prints a JWKS document
        keys = [jwk(*a.split(":", 2)) for a in sys.argv[2:]]
        print(json.dumps({"keys": keys}))
        return
    spec = json.loads(sys.argv[1])
    for one in (spec if isinstance(spec, list) else [spec]):
        print(mint(one))


if __name__ == "__main__":
    main()
