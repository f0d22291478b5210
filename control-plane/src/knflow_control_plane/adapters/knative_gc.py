"""Which action versions are still in use, for :meth:`KnativeBackend.collect_garbage`.

The rule lives with the service that applies it (:mod:`knflow_control_plane.service.garbage`); this
name stays for callers that import it from here.
"""

from __future__ import annotations

from knflow_control_plane.service.garbage import versions_in_use

__all__ = ["versions_in_use"]
