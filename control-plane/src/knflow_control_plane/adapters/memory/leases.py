"""Named leases in memory (the :class:`~knflow_control_plane.ports.Leases` port)."""

from __future__ import annotations


class MemoryLeases:
    """At most one holder per lease name, until its expiry."""

    def __init__(self) -> None:
        self._held: dict[str, tuple[str, float]] = {}  # name -> (holder, expires_at)

    async def acquire_lease(self, name: str, holder: str, now: float, ttl: float) -> bool:
        """Take or renew ``name`` for ``holder`` until ``now + ttl``; False while another holds it."""
        current = self._held.get(name)
        if current is not None and current[0] != holder and current[1] >= now:
            return False
        self._held[name] = (holder, now + ttl)
        return True

    async def release_lease(self, name: str, holder: str) -> None:
        """Give the lease up (when ``holder`` has it)."""
        if self._held.get(name, ("", 0.0))[0] == holder:
            del self._held[name]
