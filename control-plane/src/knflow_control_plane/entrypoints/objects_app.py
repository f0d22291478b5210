"""``LocalObjectsApp``: the ASGI app serving :class:`~knflow_control_plane.adapters.objects.local.LocalObjectStore`'s
signed URLs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from urllib.parse import parse_qsl

from starlette.types import Receive, Scope, Send

from ..adapters.objects import signing
from ..adapters.objects.local import LocalObjectStore
from ..errors import ControlPlaneError
from ..ports.objects import DEFAULT_CONTENT_TYPE, TooLarge, UrlInvalid
from .statuses import status_of


class LocalObjectsApp:
    """A pure ASGI app serving :class:`LocalObjectStore`'s signed URLs (``GET``/``PUT /{key}?...``).

    Mount it at ``/v1/objects`` (``app.mount("/v1/objects", LocalObjectsApp(store))``). Errors are RFC 9457
    problems: 403 expired or tampered URL, 404 missing object, 409 upload URL used already, 413 over
    ``max_size``, 422 malformed key.

    Args:
        store: the store whose URLs this app serves.
    """

    def __init__(self, store: LocalObjectStore):
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request to a signed URL."""
        if scope["type"] != "http":  # uvicorn, told so at startup, runs the app without lifespan events
            raise RuntimeError(f"LocalObjectsApp serves HTTP, not {scope['type']}")
        method = scope["method"]
        try:
            if method not in ("GET", "PUT"):
                await _problem(send, 405, "Method not allowed", f"{method} is not served here; use GET or PUT")
                return
            path, root = str(scope["path"]), str(scope.get("root_path", ""))
            key = (path[len(root) :] if root and path.startswith(root) else path).lstrip("/")
            query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
            grant = self.store.verify(method, key, query)
            if method == "GET":
                await self._get(grant, send)
            else:
                await self._put(grant, scope, receive, send)
        except ConnectionResetError:
            return  # nobody is left to answer; the partial upload was discarded
        except ControlPlaneError as exc:
            title = (type(exc).__doc__ or type(exc).__name__).strip().splitlines()[0]
            await _problem(send, status_of(exc), title, str(exc), **exc.fields)

    async def _get(self, grant: signing.Grant, send: Send) -> None:
        async with await self.store.get(grant.key) as stream:
            info = stream.info
            headers = [(b"content-type", info.content_type.encode("latin-1")), (b"etag", f'"{info.etag}"'.encode())]
            headers.append((b"content-length", str(info.size).encode()))
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            async for chunk in stream:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})

    async def _put(self, grant: signing.Grant, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        sent_type = headers.get("content-type")
        if grant.content_type is not None and sent_type != grant.content_type:
            raise UrlInvalid(f"URL is signed for Content-Type {grant.content_type!r}", field="content-type")
        limit = grant.max_size
        declared = headers.get("content-length", "")
        # Refuse a declared oversize body before reading it (and before a client waiting on 100-continue sends).
        if limit is not None and declared.isdigit() and int(declared) > limit:
            raise TooLarge(f"upload of {declared} bytes is over the limit of {limit}", max_size=limit)

        async def body() -> AsyncIterator[bytes]:
            received = 0
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ConnectionResetError("the client went away during the upload")
                chunk = message.get("body", b"")
                received += len(chunk)
                if limit is not None and received > limit:
                    raise TooLarge(f"upload is over the limit of {limit} bytes", max_size=limit)
                if chunk:
                    yield chunk
                if not message.get("more_body", False):
                    return

        # One upload per URL: a second PUT (after the run recorded the file, say) would replace it unseen.
        info = await self.store.put(grant.key, body(), sent_type or DEFAULT_CONTENT_TYPE, create_only=True)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"etag", f'"{info.etag}"'.encode())]})
        await send({"type": "http.response.body", "body": b""})


async def _problem(send: Send, status: int, title: str, detail: str, **fields: object) -> None:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, "field": None}
    body.update({name: value for name, value in fields.items() if isinstance(value, str | int | None)})
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
