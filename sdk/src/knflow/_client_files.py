"""The client's calls on files: upload one as an input, list a run's, download one (streamed)."""

from __future__ import annotations

import os
from typing import Any, Protocol, TypeVar

import httpx

from . import rest
from ._client_errors import ApiError, problem_of

M = TypeVar("M", bound=rest.Reply)
JSON = dict[str, Any]


class _FileCalls(Protocol):
    url: str
    _http: httpx.Client

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response: ...

    def _typed(self, model: type[M], method: str, path: str, *, json: Any = None, params: Any = None) -> M: ...


class FileCalls:
    """Files as inputs and outputs of runs."""

    def upload(
        self: _FileCalls, path: str | os.PathLike[str], *, name: str | None = None, content_type: str | None = None
    ) -> JSON:
        """Upload a local file (streamed) to pass as a ``File`` input; its reference ``{"knflow.file": ...}``.

        Raises:
            ApiError: the control plane refused it (over the size limit: 413).
            OSError: the file cannot be read.
        """
        import mimetypes
        from pathlib import Path

        local = Path(path)
        media = content_type or mimetypes.guess_type(local.name)[0] or "application/octet-stream"
        with local.open("rb") as body:
            response = self._send(
                "POST",
                "/v1/files",
                params={"name": name or local.name},
                content=body,
                headers={"content-type": media, "content-length": str(local.stat().st_size)},
            )
        reference = rest.Uploaded.model_validate(response.json()).file
        if reference is None:
            raise ApiError("POST /v1/files: the reply names no file", status=response.status_code, body=response.text)
        return reference

    def run_files(self: _FileCalls, run_id: str) -> rest.RunFiles:
        """A run's files with their lineage and download links."""
        return self._typed(rest.RunFiles, "GET", f"/v1/runs/{run_id}/files")

    def download(self: _FileCalls, run_id: str, key: str, dest: str | os.PathLike[str]) -> int:
        """Download one file of a run to ``dest`` (streamed); the number of bytes written.

        Raises:
            ApiError: no such file, or it expired (404).
        """
        written = 0
        try:
            with self._http.stream("GET", f"/v1/runs/{run_id}/files/{key}", follow_redirects=True) as response:
                if response.status_code >= 400:
                    response.read()
                    raise problem_of(response)
                with open(dest, "wb") as out:
                    for chunk in response.iter_bytes(1024 * 1024):
                        written += out.write(chunk)
        except httpx.HTTPError as exc:
            raise ApiError(f"GET {self.url}/v1/runs/{run_id}/files/{key} failed: {exc}", detail=str(exc)) from exc
        return written
