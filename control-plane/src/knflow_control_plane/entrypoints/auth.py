"""Who may call which route: the API key's role against what the route needs (``domain/access.py``),
and the rate limit of the key. Hooks decide for themselves (a hook may be public), in ``hooks.py``."""

from __future__ import annotations

from fastapi import Request

from ..domain.access import Need, Principal, Role, need_of
from ..errors import Forbidden
from .routes_workflows import plane


async def authorize(request: Request) -> None:
    """Refuse a request whose key is missing, unknown, revoked, expired, of another project, of a role
    that does not cover the route, or over its rate limit; remember who it acts as.

    Raises:
        Unauthorized: (401) no valid key.
        Forbidden: (403) the key's role does not cover the route.
        RateLimited: (429) the key is over ``KNFLOW_KEY_RATE_LIMIT``.
    """
    route = request.scope.get("route")
    path = str(getattr(route, "path", request.url.path))
    if path.startswith("/hooks/"):
        return
    cp = plane(request)
    principal = await cp.access.keys.require(request.headers.get("authorization"), need_of(request.method, path))
    if principal.bucket is not None:
        cp.access.key_limits.take(principal.bucket, "this API key")
    request.state.principal = principal


def principal_of(request: Request) -> Principal:
    """Who the request acts as: its key's principal, or the project's admin when keys are off."""
    found = getattr(request.state, "principal", None)
    if isinstance(found, Principal):
        return found
    return Principal(plane(request).settings.project, Role.admin)


async def authorize_hook(request: Request, public: bool) -> None:
    """A hook's check: none for a public hook or with keys off, else an ``invoke`` key within its limit.

    Raises:
        Unauthorized, Forbidden, RateLimited: as :func:`authorize`.
    """
    cp = plane(request)
    if public or not cp.settings.auth:
        return
    principal = await cp.access.keys.require(request.headers.get("authorization"), Need.invoke)
    if principal.role is Role.source:
        raise Forbidden("a trigger's key may only post its own events", field="authorization")
    if principal.bucket is not None:
        cp.access.key_limits.take(principal.bucket, "this API key")
