"""A small HTTP/1.1 server: ``asyncio.Protocol`` plus the ``httptools`` parser (the one uvicorn uses).

Just what a function behind a queue-proxy or the local backend needs: keep-alive, pipelined requests
answered in order, ``Content-Length`` responses, a request body limit (413), ``Connection: close`` and
HTTP/1.0, ``Expect: 100-continue``. Written here rather than taken from uvicorn because the import of
uvicorn alone costs more than this whole runtime's cold start budget (see the README's numbers).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httptools

log = logging.getLogger("knflow_runtime.http")

_REASONS = {
    100: "Continue",
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Content Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
_MAX_PIPELINE = 32  # requests queued on one connection before it stops reading
_LINGER_SECONDS = 2.0


@dataclass(slots=True)
class Request:
    """One parsed request; header names are lower case."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool = True
    http10: bool = False


@dataclass(slots=True)
class Response:
    """What a handler answers; ``content-length`` and ``connection`` are added when written."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


Handler = Callable[[Request], Awaitable[Response]]


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON response (``application/problem+json`` when the payload has a ``title``)."""
    kind = "application/problem+json" if isinstance(payload, dict) and "title" in payload else "application/json"
    return Response(status, {"content-type": kind, **(headers or {})}, json.dumps(payload).encode())


def problem(status: int, title: str, detail: str, **extra: Any) -> Response:
    """An RFC 9457 problem response: ``{"title", "status", "detail", ...}``."""
    return json_response(status, {"title": title, "status": status, "detail": detail, **extra})


class HttpServer:
    """Serves ``handler`` on a TCP port.

    Args:
        handler: called once per request, in order per connection.
        max_body: the largest request body accepted, in bytes.
    """

    def __init__(self, handler: Handler, *, max_body: int):
        self.handler = handler
        self.max_body = max_body
        self.closing = False
        self.connections: set[_Connection] = set()
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` and return the port (the one picked when ``port`` is 0)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), host, port, backlog=1024)
        return int(self._server.sockets[0].getsockname()[1])

    def stop_accepting(self) -> None:
        """Close the listening socket and idle keep-alive connections; busy ones close after their reply."""
        self.closing = True
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections):
            connection.close_if_idle()

    async def close(self) -> None:
        """Close every connection, busy or not (replies already written are still flushed), and the listener."""
        self.stop_accepting()
        for connection in list(self.connections):
            connection.close()
        if self._server is not None:
            await self._server.wait_closed()


class _TooLarge(Exception):
    pass


class _Connection(asyncio.Protocol):
    """One client connection: parses requests and answers them in order."""

    def __init__(self, server: HttpServer):
        self.server = server
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.queue: deque[Request | Response] = deque()
        self.worker: asyncio.Task[None] | None = None
        self.can_write = asyncio.Event()
        self.can_write.set()
        self.url, self.body, self.size = b"", bytearray(), 0
        self.headers: dict[str, str] = {}
        self.reading = True
        self.discarding = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        self.transport = None
        self.queue.clear()
        self.can_write.set()

    def pause_writing(self) -> None:
        self.can_write.clear()

    def resume_writing(self) -> None:
        self.can_write.set()

    def eof_received(self) -> bool:
        return False  # the client is done sending: close (after our pending writes)

    def data_received(self, data: bytes) -> None:
        if self.discarding:
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if not isinstance(exc.__context__, _TooLarge):
                raise
            limit = self.server.max_body
            self._fail(problem(413, "request too large", f"the body exceeds {limit} bytes (KNFLOW_MAX_BODY)"))
        except httptools.HttpParserUpgrade:
            self._fail(problem(400, "upgrade not supported", "this server speaks HTTP/1.1 only"))
        except httptools.HttpParserError as exc:
            self._fail(problem(400, "malformed HTTP request", str(exc)))

    # httptools callbacks

    def on_message_begin(self) -> None:
        self.url, self.headers, self.body, self.size = b"", {}, bytearray(), 0

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        self.headers[key] = f"{self.headers[key]}, {text}" if key in self.headers else text

    def on_headers_complete(self) -> None:
        length = self.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.server.max_body:
            raise _TooLarge
        # Say "go on" only when no earlier reply is pending, so that it cannot land between two replies.
        if self.headers.get("expect", "").lower() == "100-continue" and not self.queue and self.worker is None:
            self._send(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.size > self.server.max_body:
            raise _TooLarge
        self.body += body

    def on_message_complete(self) -> None:
        method = self.parser.get_method().decode("ascii")
        path = self.url.partition(b"?")[0].decode("latin-1")
        keep_alive = self.parser.should_keep_alive()
        http10 = self.parser.get_http_version() == "1.0"
        self.queue.append(Request(method, path, self.headers, bytes(self.body), keep_alive, http10))
        self._wake()

    # answering

    def _fail(self, response: Response) -> None:
        """Answer a request that could not be parsed, after those before it, then close."""
        self.discarding = True
        self.queue.append(response)
        self._wake()

    def _wake(self) -> None:
        if len(self.queue) >= _MAX_PIPELINE:
            self._pause()
        if self.worker is None:
            self.worker = asyncio.get_running_loop().create_task(self._work())

    def _pause(self) -> None:
        if self.reading and self.transport is not None:
            self.transport.pause_reading()
            self.reading = False

    async def _work(self) -> None:
        try:
            while self.queue and self.transport is not None:
                item = self.queue.popleft()
                if isinstance(item, Response):
                    self._reply(item, keep_alive=False, http10=False)
                    self._linger()
                    return
                response = await self._handle(item)
                keep_alive = item.keep_alive and not self.server.closing
                self._reply(response, keep_alive=keep_alive, http10=item.http10)
                if not keep_alive:
                    if self.transport is not None:
                        self.transport.close()
                    return
                await self.can_write.wait()
                if not self.reading and len(self.queue) < _MAX_PIPELINE // 2 and self.transport is not None:
                    self.transport.resume_reading()
                    self.reading = True
        finally:
            self.worker = None

    async def _handle(self, request: Request) -> Response:
        try:
            return await self.server.handler(request)
        except Exception:
            log.exception("unhandled error answering %s %s", request.method, request.path)
            return problem(500, "internal error", "the runtime failed to answer; see its logs")

    def _reply(self, response: Response, *, keep_alive: bool, http10: bool) -> None:
        lines = [f"HTTP/1.1 {response.status} {_REASONS.get(response.status, 'Status')}\r\n"]
        lines.extend(f"{name}: {value}\r\n" for name, value in response.headers.items())
        lines.append(f"content-length: {len(response.body)}\r\n")
        if not keep_alive:
            lines.append("connection: close\r\n")
        elif http10:
            lines.append("connection: keep-alive\r\n")
        lines.append("\r\n")
        self._send("".join(lines).encode("latin-1") + response.body)

    def _linger(self) -> None:
        # Closing a socket with unread input resets it, and the client may lose our error reply with
        # it (a 413 sent while the body is still coming). So: stop sending, swallow what still
        # arrives, and close when the client does (eof_received) or after a grace period.
        if self.transport is None:
            return
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()
        asyncio.get_running_loop().call_later(_LINGER_SECONDS, self.abort)

    def _send(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def close_if_idle(self) -> None:
        """Close now when no request is being answered; otherwise the reply in progress says ``close``."""
        if self.worker is None and not self.queue and self.transport is not None:
            self.transport.close()

    def close(self) -> None:
        """Close once what was written is sent."""
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Close at once."""
        if self.transport is not None:
            self.transport.abort()
