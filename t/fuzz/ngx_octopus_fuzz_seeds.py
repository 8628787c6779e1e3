#!/usr/bin/python3
# Writes the seed corpora into t/fuzz/corpus/<target>/ (run from the
# repository root; the files are committed, rerun only to change them).

import base64, hashlib, hmac, json, os, struct

SECRET = b"fuzz-secret-0123456789abcdefghijklmnop"
NOW = 1800000000


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=")


def hs256(header, payload):
    si = b64(header) + b"." + b64(payload)
    return si + b"." + b64(hmac.new(SECRET, si, hashlib.sha256).digest())


def put(target, name, data):
    d = os.path.join("t/fuzz/corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


claims = [
    {"sub": "alice", "role": "admin", "exp": NOW + 600, "iat": NOW - 10,
     "iss": "iss", "aud": "aud", "jti": "j1"},
    {"sub": "bob", "roles": ["user", "trader"], "exp": NOW - 100},
    {"sub": "c\u0000d", "role": "x\"y\\z\n", "nbf": NOW + 1000,
     "exp": NOW + 2000},
    {"sub": "e", "aud": ["a", "aud"], "exp": 1e300, "iat": -1},
    {"sub": "\ud83d\ude00", "role": ["admin", 1, None, {"a": []}]},
]
headers = [
    {"alg": "HS256", "typ": "JWT"},
    {"alg": "HS256", "kid": "h"},
    {"alg": "none"},
    {"alg": "HS256", "crit": ["exp"]},
    {"alg": "ES256", "kid": "e"},
    {"alg": "hs256"},
]

i = 0
for h in headers:
    for c in claims:
        hj = json.dumps(h, separators=(",", ":")).encode()
        cj = json.dumps(c, separators=(",", ":")).encode()
        # mode 1: the target signs header NUL payload
        put("jwt", "s%02d" % i, bytes([1 | (i % 64) << 1]) + hj + b"\0" + cj)
        # mode 0: a raw token
        put("jwt", "r%02d" % i, bytes([(i % 64) << 1]) + hs256(hj, cj))
        put("auth_json", "c%02d" % i, cj)
        i += 1
put("jwt", "raw-garbage", b"\0a.b.c")
put("jwt", "raw-dots", b"\0....")
put("auth_json", "deep", "[" * 20 + "]" * 20)
put("auth_json", "escapes", r'{"a":"\u00e9\ud83d\ude00\n\t\"","b":[1,2.5e3,-0,true,false,null]}')
put("auth_json", "dup", '{"a":1,"\\u0061":2}')

key = hashlib.sha256(b"secret-key").hexdigest()
put("apikey", "lines",
    "# comment\n\nsvc %s trader # bot\r\n\told\t%s user 2020-01-02\n"
    "t %s user 2020-01-02T00:00:10Z\nt %s user 1700000000\n"
    "t %s ghost\nsecret-key" % (key, key, key, key, key))
put("apikey", "bad", "x %sg user\nx %s admin 9999-99-99\nwrong" % (key[:63], key))

put("jwks", "oct", json.dumps({"keys": [{"kty": "oct", "alg": "HS512", "kid": "k",
    "k": b64(b"k" * 64).decode()}]}))
put("jwks", "ec", json.dumps({"keys": [{"kty": "EC", "crv": "P-256", "kid": "e",
    "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}))
put("jwks", "rsa", json.dumps({"keys": [{"kty": "RSA", "kid": "r", "alg": "RS256",
    "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
    "e": "AQAB"}, {"kty": "RSA", "use": "enc"}, {"kty": "OKP"}]}))
put("jwks", "bad", '{"keys":[{"kty":"oct","k":"c2hvcnQ"}]}')

put("rl_field", "json", b"\x41\x08username" + b'{"password":"x","username":"al\\u0069ce"}')
put("rl_field", "json-nested", b"\x21\x04user" + b'{"a":{"user":"x"},"user":["y"],"user":"z"}')
put("rl_field", "form", b"\x40\x08username" + b"password=a%26b&username=al+ice%41&x")
put("rl_field", "form-bad", b"\x40\x04user" + b"user=%zz&user=%4&user")
put("rl_field", "json-dup", b"\x41\x08username" + b'{"username":"a","user\\u006eame":"b"}')
put("rl_field", "multipart", b"\x42\x03XyZ" + b'pre\r\n--XyZ\r\nContent-Disposition: form-data; name="password"\r\n\r\nx\r\n--XyZ \r\ncontent-disposition: form-data; name="user\\name"; filename="a"\r\nContent-Transfer-Encoding: base64\r\n\r\nYQ==\r\n--XyZ--\r\n')
put("rl_field", "ctype", b"\x43\x00" + b'multipart/form-data; charset="utf-8"; boundary="a b"; x=y')
put("rl_field", "utf16le", b"\x44\x08username" + '{"username":"\u00e9\U0001f600"}'.encode("utf-16-le"))
put("rl_field", "utf32be-bom", b"\x45\x08username" + '\ufeff{"username":"v"}'.encode("utf-32-be"))
put("rl_field", "utf8-bom", b"\x46\x08username" + b'\xef\xbb\xbf{"username":"v"}')

F = "\x01"
put("audit_record", "plain", "\x10/api/admin/x" + F + "req-1" + F + "node" + F +
    "127.0.0.1" + F + "alice" + F + "admin" + F + "jwt" + F + "" + F + "GET" +
    F + "host" + F + "/p" + F + "card=4111111111111111&password=x&token=y" +
    F + "200" + F + "123" + F + "45" + F + "6" + F + "200" + F + "0.001" +
    F + "curl" + F + "ok" + F + "pass" + F + "api_call" + F + "c" + F + "1")
put("audit_record", "hostile", b"\x20/a\\b\tc\nd\re\"f\x00g\xff\xc3(" + F.encode() +
    b"\xe2\x82" + F.encode() + b"\\N" + F.encode() + b"\x7f\x1b[31m" +
    F.encode() + "\u2028\ufeff".encode() + F.encode() + b"sid=1;session=2&x")

put("redis_reply", "limit", b"\x04*4\r\n:1\r\n:9\r\n:1000\r\n:0\r\n")
put("redis_reply", "mixed", b"\x00+OK\r\n-NOSCRIPT No matching script\r\n:42\r\n$5\r\nhello\r\n$-1\r\n*-1\r\n*2\r\n*1\r\n:1\r\n$0\r\n\r\n")
put("redis_reply", "nested", b"\x1f" + b"*1\r\n" * 50 + b":1\r\n")

# revocation entries: "\x00-\x02" a member of that type + "\n" + its score,
# else a published message
put("auth_revoke", "jti", b"\x00abc-1\n1800000600")
put("auth_revoke", "sub", b"\x011799999000 alice smith\n1800003600")
put("auth_revoke", "key", b"\x02svc-1\ninf")
put("auth_revoke", "msg-add", b"\x03add sub 1800003600 1800000000 bob")
put("auth_revoke", "msg-del", b"\x03del jti t-1")
