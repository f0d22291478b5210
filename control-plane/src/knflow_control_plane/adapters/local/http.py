"""HTTP/1.1 to local instances: a raw asyncio ``Protocol`` with the ``httptools`` parser.

Not ``httpx.AsyncClient``: this client's invokes take a fraction of httpx's to the same instance
(``bench/cold_start_bench.py``; the numbers are in ``docs/performance.md``). Invoke overhead is most of a
step's cost, so the few lines of HTTP/1.1 are worth owning.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import httptools

from knflow_control_plane.errors import InvalidRequest
from knflow_control_plane.ports import HttpReply

#: Headers the client writes itself; a caller's copy would make the request ambiguous.
_OWN_HEADERS = frozenset({"host", "content-length", "connection", "transfer-encoding"})


class ConnectionDroppedError(ConnectionError):
    """The connection closed before a whole reply came back.

    Attributes:
        replied: whether any byte of the reply had arrived (if not, the request may never have been read).
    """

    def __init__(self, message: str, *, replied: bool):
        self.replied = replied
        super().__init__(message)


class HttpConnection(asyncio.Protocol):
    """One HTTP/1.1 connection: one request at a time, kept alive between them."""

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[HttpReply] | None = None
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._replied = False
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._replied = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionDroppedError(f"bad HTTP reply: {exc}", replied=True))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(ConnectionDroppedError(f"connection lost: {exc or 'closed by the function'}", replied=self._replied))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        old = self._headers.get(key)
        self._headers[key] = value.decode("latin-1") if old is None else f"{old}, {value.decode('latin-1')}"

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        reply = HttpReply(status=self._parser.get_status_code(), headers=self._headers, body=b"".join(self._body))
        self._headers, self._body, self._replied = {}, [], False
        waiter, self._waiter = self._waiter, None
        if not self._parser.should_keep_alive():
            self.close()
        if waiter is not None and not waiter.done():
            waiter.set_result(reply)

    def send(self, data: bytes) -> asyncio.Future[HttpReply]:
        """Write a whole request; the future resolves with its reply."""
        assert self._transport is not None
        self._waiter = waiter = asyncio.get_running_loop().create_future()
        self._transport.write(data)
        return waiter

    def close(self) -> None:
        """Drop the connection (a reply still expected is lost)."""
        self.closed = True
        if self._transport is not None:
            self._transport.abort()

    def _fail(self, exc: Exception) -> None:
        self.close()
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)


def encode_headers(headers: Mapping[str, str]) -> bytes:
    """HTTP/1.1 header lines for ``headers``, less the ones the client sets itself.

    Raises:
        InvalidRequest: a name or value holds a line break or a character outside Latin-1.
    """
    lines = [f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() not in _OWN_HEADERS]
    text = "".join(lines)
    # Exactly one CR and one LF per line: anything else would smuggle a header or a request.
    if text.count("\n") != len(lines) or text.count("\r") != len(lines):
        raise InvalidRequest("a header name or value holds a line break")
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise InvalidRequest(f"a header is not Latin-1: {exc}") from exc
