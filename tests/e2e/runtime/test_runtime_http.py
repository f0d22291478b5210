"""The HTTP/1.1 server itself, over raw sockets: keep-alive, pipelining, HTTP/1.0, Expect, bad requests."""

from __future__ import annotations

import socket

from tests.e2e.runtime.runtime_support import RuntimeProcess, decode, invoke_request

from knflow.wire import SUCCEEDED


def _connect(runtimes: dict[str, RuntimeProcess]) -> socket.socket:
    return socket.create_connection(("127.0.0.1", runtimes["greet"].port), timeout=5)


def _request(inputs: dict[str, object], extra: str = "") -> bytes:
    headers, body = invoke_request(inputs)
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return f"POST / HTTP/1.1\r\nhost: test\r\n{head}content-length: {len(body)}\r\n{extra}\r\n".encode() + body


def _read_response(sock: socket.socket, buffer: bytearray) -> tuple[str, dict[str, str], bytes]:
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        assert chunk, "connection closed before a full response"
        buffer += chunk
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value for name, value in (line.split(": ", 1) for line in lines)}
    length = int(headers["content-length"])
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk
        rest += chunk
    buffer[:] = rest[length:]
    return status, headers, rest[:length]


def _closed(sock: socket.socket) -> bool:
    return sock.recv(1) == b""


def test_pipelined_requests_are_answered_in_order_on_one_connection(runtimes: dict[str, RuntimeProcess]) -> None:
    names = [f"n{index}" for index in range(5)]
    with _connect(runtimes) as sock:
        sock.sendall(b"".join(_request({"name": name}) for name in names))
        buffer = bytearray()
        for name in names:
            status, headers, body = _read_response(sock, buffer)
            assert status == "HTTP/1.1 200 OK"
            event_type, data, _ = decode(headers, body)
            assert event_type == SUCCEEDED
            assert data["outputs"] == {"greeting": f"hello {name}"}
        # Still open: keep-alive.
        sock.sendall(b"GET /health/liveness HTTP/1.1\r\nhost: t\r\n\r\n")
        assert _read_response(sock, buffer)[0] == "HTTP/1.1 200 OK"


def test_connection_close_is_honoured(runtimes: dict[str, RuntimeProcess]) -> None:
    with _connect(runtimes) as sock:
        sock.sendall(b"GET /health/liveness HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
        status, headers, _ = _read_response(sock, bytearray())
        assert status == "HTTP/1.1 200 OK"
        assert headers["connection"] == "close"
        assert _closed(sock)


def test_http10_closes_unless_keep_alive_is_asked(runtimes: dict[str, RuntimeProcess]) -> None:
    with _connect(runtimes) as sock:
        sock.sendall(b"GET /health/readiness HTTP/1.0\r\n\r\n")
        status, _, body = _read_response(sock, bytearray())
        assert status.endswith("200 OK")
        assert b'"ready"' in body
        assert _closed(sock)
    with _connect(runtimes) as sock:
        buffer = bytearray()
        sock.sendall(b"GET /health/readiness HTTP/1.0\r\nconnection: keep-alive\r\n\r\n")
        assert _read_response(sock, buffer)[1]["connection"] == "keep-alive"
        sock.sendall(b"GET /health/liveness HTTP/1.0\r\n\r\n")
        assert _read_response(sock, buffer)[0].endswith("200 OK")


def test_expect_100_continue(runtimes: dict[str, RuntimeProcess]) -> None:
    request = _request({"name": "patient"}, extra="expect: 100-continue\r\n")
    head, _, body = request.partition(b"\r\n\r\n")
    with _connect(runtimes) as sock:
        sock.sendall(head + b"\r\n\r\n")
        assert sock.recv(1024) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        status, headers, reply = _read_response(sock, bytearray())
        assert status == "HTTP/1.1 200 OK"
        assert decode(headers, reply)[0] == SUCCEEDED


def test_malformed_http_is_400_and_closed(runtimes: dict[str, RuntimeProcess]) -> None:
    with _connect(runtimes) as sock:
        sock.sendall(b"NOT-HTTP at all\r\n\r\n")
        status, headers, body = _read_response(sock, bytearray())
        assert status == "HTTP/1.1 400 Bad Request"
        assert b"malformed HTTP request" in body
        assert headers["connection"] == "close"
        assert _closed(sock)
