#!/usr/bin/env python3
"""A TLS 1.2 client that switches certificates in the middle of a connection.

Used by test/integration/node-identity.test.ts (issue 14, finding 2). Node's TLS client and
`openssl s_client` both keep the certificate they started with when they renegotiate, so
this drives libssl directly (ctypes): handshake with the first certificate, send one HTTP
request, then load the second certificate and key into the same connection, renegotiate,
and send the second request. Prints one JSON line per step.

usage: renegotiate-as.py PORT CA FIRST_CERT FIRST_KEY SECOND_CERT SECOND_KEY REQUEST1 REQUEST2
(requests are raw HTTP/1.1 text; REQUEST1 may be empty to renegotiate before any request)
"""
import ctypes
import ctypes.util
import json
import socket
import sys

ssl = ctypes.CDLL(ctypes.util.find_library("ssl") or "libssl.so.3")
ssl.TLS_client_method.restype = ctypes.c_void_p
ssl.SSL_CTX_new.restype = ctypes.c_void_p
ssl.SSL_CTX_new.argtypes = [ctypes.c_void_p]
ssl.SSL_CTX_ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
ssl.SSL_CTX_load_verify_locations.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
ssl.SSL_new.restype = ctypes.c_void_p
ssl.SSL_new.argtypes = [ctypes.c_void_p]
for name in ("SSL_connect", "SSL_renegotiate", "SSL_do_handshake", "SSL_get_verify_result"):
    getattr(ssl, name).argtypes = [ctypes.c_void_p]
ssl.SSL_set_fd.argtypes = [ctypes.c_void_p, ctypes.c_int]
ssl.SSL_use_certificate_file.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
ssl.SSL_use_PrivateKey_file.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
ssl.SSL_write.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
ssl.SSL_read.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
ssl.SSL_get_error.argtypes = [ctypes.c_void_p, ctypes.c_int]
ssl.SSL_ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
ssl.ERR_get_error.restype = ctypes.c_ulong
ssl.ERR_error_string.restype = ctypes.c_char_p
ssl.ERR_error_string.argtypes = [ctypes.c_ulong, ctypes.c_char_p]

PEM = 1
SSL_CTRL_SET_MAX_PROTO_VERSION = 124
SSL_CTRL_SET_TLSEXT_HOSTNAME = 55
TLS1_2_VERSION = 0x0303


def say(**kw):
    print(json.dumps(kw), flush=True)


def last_error():
    code = ssl.ERR_get_error()
    return ssl.ERR_error_string(code, None).decode() if code else "no error queued"


def exchange(conn, request):
    data = request.encode()
    if ssl.SSL_write(conn, data, len(data)) <= 0:
        return {"error": "write failed: " + last_error()}
    buf = ctypes.create_string_buffer(65536)
    got = b""
    while b"\r\n\r\n" not in got or len(got.split(b"\r\n\r\n", 1)[1]) < content_length(got):
        n = ssl.SSL_read(conn, buf, len(buf))
        if n <= 0:
            return {"error": "read failed: " + last_error(), "partial": got.decode("latin1")}
        got += buf.raw[:n]
    head, body = got.split(b"\r\n\r\n", 1)
    return {"status": int(head.split(b" ")[1]), "body": body.decode("utf-8", "replace")}


def content_length(got):
    for line in got.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


def main():
    port, ca, cert1, key1, cert2, key2, req1, req2 = sys.argv[1:9]
    ctx = ssl.SSL_CTX_new(ssl.TLS_client_method())
    ssl.SSL_CTX_ctrl(ctx, SSL_CTRL_SET_MAX_PROTO_VERSION, TLS1_2_VERSION, None)
    ssl.SSL_CTX_load_verify_locations(ctx, ca.encode(), None)
    conn = ssl.SSL_new(ctx)
    ssl.SSL_ctrl(conn, SSL_CTRL_SET_TLSEXT_HOSTNAME, 0, ctypes.c_char_p(b"localhost"))
    sock = socket.create_connection(("127.0.0.1", int(port)))
    ssl.SSL_set_fd(conn, sock.fileno())
    ssl.SSL_use_certificate_file(conn, cert1.encode(), PEM)
    ssl.SSL_use_PrivateKey_file(conn, key1.encode(), PEM)
    if ssl.SSL_connect(conn) != 1:
        say(step="handshake", error=last_error())
        return
    say(step="handshake", ok=True)
    if req1:
        say(step="request1", **exchange(conn, req1))
    # The same connection, another certificate: what the server must never believe.
    ssl.SSL_use_certificate_file(conn, cert2.encode(), PEM)
    ssl.SSL_use_PrivateKey_file(conn, key2.encode(), PEM)
    if ssl.SSL_renegotiate(conn) != 1 or ssl.SSL_do_handshake(conn) != 1:
        say(step="renegotiate", error=last_error())
        return
    say(step="renegotiate", ok=True)
    say(step="request2", **exchange(conn, req2))


main()
