"""A pure ASGI middleware that refuses request bodies over a size limit before they are read whole, and
where a body is parsed: on the event loop when small, in a worker thread when large."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

T = TypeVar("T")
#: bodies larger than this are parsed in a worker thread: a 10 MiB one takes seconds of CPU, and the
#: server must keep answering meanwhile; smaller ones are parsed in place (cheaper than a thread hop)
OFF_LOOP_BYTES = 64 * 1024


async def parse_body(size: int, parse: Callable[..., T], *args: Any) -> T:
    """``parse(*args)``: in place for a body of ``size`` bytes up to :data:`OFF_LOOP_BYTES`, else in a thread."""
    if size <= OFF_LOOP_BYTES:
        return parse(*args)
    return await asyncio.to_thread(parse, *args)


class BodyTooLarge(HTTPException):
    """The body grew past the limit while it was read.

    An ``HTTPException``: FastAPI turns any other error raised while it reads a body into a 400 ("error
    parsing the body"); this one it lets through to the problem handlers (413).
    """

    def __init__(self, limit: int):
        super().__init__(413, too_large(limit))
        self.limit = limit


def too_large(limit: int) -> str:
    """The detail of a 413."""
    return f"the request body is over {limit} bytes"


class BodyLimit:
    """Answer 413 (problem+json) to bodies over ``limit`` bytes, declared or streamed."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": "Payload too large",
            "status": 413,
            "detail": too_large(self.limit),
            "field": "body",
        }
        payload = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
