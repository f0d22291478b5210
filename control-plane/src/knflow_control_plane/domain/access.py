"""Who may do what: API key roles, the principal a request acts as, and what each route needs. No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Role(str, Enum):
    """What a key may do.

    ``operator``: the control plane's operator (``KNFLOW_BOOTSTRAP_KEY``, or a key an operator made): creates,
    lists and deletes projects, and is an ``admin`` of every project (``X-Knflow-Project`` picks which);
    ``admin``: everything in its project (deploy, manage keys and secrets, run, read); ``invoke``: HTTP
    triggers and ``POST /v1/events`` only; ``read``: runs, their logs and files; ``source``: a custom
    ``@trigger``'s own key, which may only post events of its own source (never stored: derived and signed).
    """

    operator = "operator"
    admin = "admin"
    invoke = "invoke"
    read = "read"
    source = "source"


class Need(str, Enum):
    """What a route needs of its caller."""

    operate = "operate"
    manage = "manage"
    invoke = "invoke"
    read = "read"


_GRANTS = {
    Role.operator: frozenset(Need),
    Role.admin: frozenset(Need) - {Need.operate},
    Role.invoke: frozenset({Need.invoke}),
    Role.read: frozenset({Need.read}),
    Role.source: frozenset({Need.invoke}),
}


@dataclass(frozen=True)
class Principal:
    """Who a request acts as.

    Attributes:
        project: the project it acts in, and may see and change (and nothing of any other); an operator's is
            the one its request names (``X-Knflow-Project``), else the control plane's default.
        role: what it may do there.
        key_id: the stored key, if it is one (rate limits are counted per key).
        source: for a ``source`` key, the only CloudEvents ``source`` it may post.
    """

    project: str
    role: Role
    key_id: str | None = None
    source: str | None = None

    @property
    def bucket(self) -> str | None:
        """What its rate limit is counted on: its key, or its trigger's source; None for the operator's
        bootstrap key, which is not limited."""
        return self.key_id or (f"source:{self.source}" if self.source else None)

    def may(self, need: Need) -> bool:
        """Whether this principal's role covers ``need``."""
        return need in _GRANTS[self.role]


def need_of(method: str, path: str) -> Need:
    """What the route at ``path`` (its template, ``/v1/runs/{run_id}``) needs for ``method``.

    Hooks and event ingest need ``invoke``; reading runs (their live feed, ``/v1/stream``, and the events
    that started none) and scraping ``/metrics`` need ``read``; creating and deleting projects needs ``operate``;
    everything else (deploying, keys, secrets, starting, cancelling and retrying runs, uploads, seeing its own
    project) needs ``manage``.
    """
    if path.startswith("/v1/projects") and method not in ("GET", "HEAD"):
        return Need.operate
    if path.startswith("/hooks/") or (path == "/v1/events" and method == "POST"):
        return Need.invoke
    readable = path.startswith("/v1/runs") or path in ("/v1/rejected-events", "/metrics", "/v1/stream")
    if method in ("GET", "HEAD") and readable:
        return Need.read
    return Need.manage
