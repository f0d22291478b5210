"""The errors of :mod:`knflow.client`: a refused request, an unreachable control plane, a run that
did not finish in time (re-exported there; kept apart so the client module holds the calls only)."""

from __future__ import annotations

from typing import Any

import httpx

from . import rest
from ._errors import KnflowError


class ApiError(KnflowError):
    """The control plane refused a request or could not be asked.

    Attributes:
        status: the HTTP status (0 when no response came back).
        title: the problem's short title.
        detail: the problem's explanation for this occurrence.
        body: the whole decoded body (a problem+json dict when the server sent one).
    """

    def __init__(self, message: str, *, status: int = 0, title: str = "", detail: str = "", body: Any = None):
        self.status = status
        self.title = title
        self.detail = detail
        self.body = body
        super().__init__(message)


class ConnectionFailed(ApiError):
    """No control plane answers at the client's URL.

    Attributes:
        url: the URL that was tried.
    """

    def __init__(self, url: str, reason: str = ""):
        self.url = url
        hint = f"cannot reach the knflow control plane at {url}"
        if reason:
            hint += f" ({reason})"
        super().__init__(f"{hint}; is it running? Start one locally with `knflow dev`")


class WaitTimeoutError(KnflowError, TimeoutError):
    """A run did not finish within the time :meth:`Client.wait` was given.

    Attributes:
        run: the run as last seen.
    """

    def __init__(self, run: rest.Run, timeout: float):
        self.run = run
        super().__init__(f"run {run.id} still {run.status} after {timeout:g}s")


def problem_of(response: httpx.Response) -> ApiError:
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    title = detail = ""
    if isinstance(body, dict):
        title = str(body.get("title") or "")
        detail = str(body.get("detail") or "")
    title = (title or response.reason_phrase).rstrip(".")
    if not detail and isinstance(body, str):
        detail = body.strip()[:500]
    message = f"{response.status_code} {title}" + (f": {detail}" if detail else "")
    return ApiError(message, status=response.status_code, title=title, detail=detail, body=body)
