"""Projects in memory (the :class:`~knflow_control_plane.ports.Projects` port)."""

from __future__ import annotations


class MemoryProjects:
    """The projects created so far; the store always answers."""

    def __init__(self) -> None:
        self.created: dict[str, float] = {}

    async def probe(self, project: str) -> None:
        """Nothing to check: memory is always there."""

    async def ensure_project(self, project: str, now: float) -> None:
        """Create ``project`` unless it exists."""
        self.created.setdefault(project, now)
