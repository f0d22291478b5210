"""The ASGI pieces that let files through the API: the local store's signed URLs, and body limits by kind.

Signed object URLs carry their own authority (the signature) and their own size limit, so
``/v1/objects`` sits outside API-key auth and outside the API's body limit. The upload routes (and only
they: the route decides, never a header alone) get the file limit and stream their bodies to the store;
every other request gets the (much smaller) JSON body limit. ``docs/api.md`` lists the limits.
"""

from __future__ import annotations

import json
import re

from starlette.types import ASGIApp, Receive, Scope, Send

from ..adapters.objects.local import LocalObjectStore
from .limits import BodyLimit
from .objects_app import LocalObjectsApp

OBJECTS_PATH = "/v1/objects"
UPLOADS_PATH = "/v1/files"
_RUN_WITH_FILES = re.compile(r"/v1/workflows/[^/]+/runs/?")


class ObjectsMount:
    """Serves the control plane's local store at ``/v1/objects`` (mount it there).

    The store is the running control plane's, looked up per request: the app is built before its
    lifespan wires the control plane. With an S3 store there is nothing to serve (404): S3 serves its URLs.
    """

    def __init__(self) -> None:
        self._served: LocalObjectsApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Hand the request to the local store's app."""
        plane = getattr(scope["app"].state, "control_plane", None)
        objects = getattr(plane, "objects", None)
        if not isinstance(objects, LocalObjectStore):
            await _not_found(send)
            return
        if self._served is None or self._served.store is not objects:
            self._served = LocalObjectsApp(objects)
        await self._served(scope, receive, send)


def is_upload(method: str, path: str, multipart: bool) -> bool:
    """Whether the request goes to an upload route, which streams its body into the object store:
    ``POST /v1/files``, a multipart ``POST /v1/workflows/{name}/runs``, a multipart HTTP trigger."""
    if path == UPLOADS_PATH:
        return method == "POST"
    if not multipart:
        return False
    return path.startswith("/hooks/") or (method == "POST" and _RUN_WITH_FILES.fullmatch(path) is not None)


class BodyLimits:
    """Body limits by route: none for signed object URLs (each enforces its own ``max_size``),
    ``upload_limit`` for the upload routes (:func:`is_upload`), ``limit`` for every other request."""

    def __init__(self, app: ASGIApp, limit: int, upload_limit: int):
        self.app = app
        self._json = BodyLimit(app, limit)
        self._upload = BodyLimit(app, upload_limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Route the request through the limit of its kind."""
        if scope["type"] != "http" or str(scope.get("path", "")).startswith(OBJECTS_PATH + "/"):
            await self.app(scope, receive, send)
            return
        content_type = dict(scope.get("headers") or []).get(b"content-type", b"")
        multipart = content_type.lower().startswith(b"multipart/form-data")
        if is_upload(str(scope.get("method", "")), str(scope.get("path", "")), multipart):
            await self._upload(scope, receive, send)
        else:
            await self._json(scope, receive, send)


async def _not_found(send: Send) -> None:
    body = {"type": "about:blank", "title": "Not found", "status": 404, "field": "key"}
    body["detail"] = "the object store is not local: it serves its URLs itself"
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": 404, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
