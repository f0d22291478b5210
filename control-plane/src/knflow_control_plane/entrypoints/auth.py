"""Who may call which route: the API key's role against what the route needs (``domain/access.py``),
the rate limit of the key, and the project the request acts in. Hooks decide for themselves (a hook may
be public, and belongs to the project that deployed it), in ``hooks.py``."""

from __future__ import annotations

from fastapi import Request

from ..domain.access import Need, Principal, Role, need_of
from ..domain.projects import invalid_name
from ..errors import Forbidden, InvalidRequest, NotFound
from .context import plane

#: The header that names the project a request acts in: an operator's (or any request with keys off);
#: a project's own key acts in its project, and naming another is refused.
PROJECT_HEADER = "X-Knflow-Project"


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
    """Who the request acts as (:func:`scope` decided it): its key's principal, in its project; an operator
    in the project the request names (or the default one); with keys off, an operator as well."""
    found = getattr(request.state, "principal", None)
    if isinstance(found, Principal):
        return found
    return Principal(plane(request).settings.project, Role.operator)


def project_of(request: Request) -> str:
    """The project the request acts in (see :func:`scope`)."""
    return principal_of(request).project


async def scope(request: Request) -> None:
    """Settle the project the request acts in, after :func:`authorize`: a project key's own; the one
    ``X-Knflow-Project`` names for an operator and with keys off (the plane's default without it).

    Raises:
        InvalidRequest: (422) the header is not a project name.
        Forbidden: (403) a project's key names another project.
        NotFound: (404) no project of that name.
    """
    if request.url.path.startswith("/hooks/"):
        return  # a hook's project is the one that deployed it
    cp = plane(request)
    found = principal_of(request)
    named = request.headers.get(PROJECT_HEADER)
    if named is None or named == found.project:
        request.state.principal = found
        return
    reason = invalid_name(named)
    if reason is not None:
        raise InvalidRequest(f"{PROJECT_HEADER}: {reason}", field=PROJECT_HEADER)
    if found.role is not Role.operator:
        raise Forbidden(
            f"this key belongs to project {found.project!r}; {PROJECT_HEADER} cannot name another", field=PROJECT_HEADER
        )
    if not await cp.projects.exists(named):
        raise NotFound(f"no project {named!r}", field=PROJECT_HEADER)
    request.state.principal = Principal(named, found.role, key_id=found.key_id, source=found.source)


def named_project(request: Request) -> str | None:
    """The project the request acts in when it names one: by its key (keys on) or by ``X-Knflow-Project``;
    None for a request without a key nor the header (keys off), which names no project."""
    if plane(request).settings.auth or request.headers.get(PROJECT_HEADER) is not None:
        return principal_of(request).project
    return None


async def authorize_hook(request: Request, public: bool) -> Principal | None:
    """A hook's check: none for a public hook or with keys off (None), else an ``invoke`` key within its
    limit (its principal).

    Raises:
        Unauthorized, Forbidden, RateLimited: as :func:`authorize`.
    """
    cp = plane(request)
    if public or not cp.settings.auth:
        return None
    principal = await cp.access.keys.require(request.headers.get("authorization"), Need.invoke)
    if principal.role is Role.source:
        raise Forbidden("a trigger's key may only post its own events", field="authorization")
    if principal.bucket is not None:
        cp.access.key_limits.take(principal.bucket, "this API key")
    return principal
