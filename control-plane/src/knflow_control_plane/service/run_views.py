"""The light view of a run (``GET /v1/runs/{id}?outputs=false``) and one step's full record.

The full view of a run (``RunFiles.present_run``) fetches every offloaded payload back from the object
store: a run with a 10,000-item map step carries the map's joined result twice (the run's ``result`` and
the step's ``outputs``), most of a megabyte, when a page only draws the run's shape. The light view leaves
out what is large and reads nothing from the object store: steps' ``outputs``, attempts' ``inputs``,
``outputs`` and ``logs`` (null, null, empty), and the run's ``inputs`` or ``result`` when they are larger
than ``LIGHT_VALUE_BYTES`` or offloaded (then null, with their size in ``omitted``). A page reads a step's
full record (``GET /v1/runs/{id}/steps/{step}``) when it shows one.
"""

from __future__ import annotations

import json
from typing import Any

from ..domain.files import PAYLOAD_MARKER, payload_keys, replace_refs
from ..errors import NotFound
from .files import RunFiles

#: the largest run ``inputs`` or ``result``, in bytes of compact JSON, the light view keeps inline
LIGHT_VALUE_BYTES = 16 * 1024


def _compact_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def value_size(value: Any) -> int:
    """The size of ``value`` in bytes of compact JSON, each offloaded payload counted at its recorded size
    (read from its reference: nothing is fetched)."""
    sizes: list[int] = []

    def note(ref: dict[str, Any]) -> Any:
        sizes.append(int(ref.get("size") or 0))
        return None  # counted apart: the reference itself is not part of the value

    return _compact_size(replace_refs(value, note, PAYLOAD_MARKER)) - 4 * len(sizes) + sum(sizes)


async def light_run(files: RunFiles, run: dict[str, Any]) -> dict[str, Any]:
    """A run's JSON (``run_json``) without its steps' and attempts' payloads, its large values replaced by
    their sizes in ``omitted``, and no read of the object store (file links are presigned locally)."""
    records = await files.store.list_files(str(run.get("id")), str(run.get("project") or files.settings.project))
    expired = [r.expired_at for r in records if r.expired_at is not None]
    run["files"] = {"count": len(records), "expired_at": max(expired) if expired else None}
    omitted: dict[str, int] = {}
    for field in ("inputs", "result"):
        value = run.get(field)
        offloaded = bool(payload_keys(value))
        size = value_size(value) if offloaded else _compact_size(value)  # one encoding of a large value
        if offloaded or size > LIGHT_VALUE_BYTES:
            omitted[field] = size
            run[field] = None
        elif field == "result":
            run[field] = await files.present(value)  # small and inline: file links only, presigned locally
    run["omitted"] = omitted
    for step in run.get("steps", []):
        step["outputs"] = None
        for attempt in step.get("attempts", []):
            attempt.update(inputs=None, outputs=None, logs="")
    return run


async def full_step(files: RunFiles, run: dict[str, Any], name: str) -> dict[str, Any]:
    """The step ``name`` of a run's JSON, with its outputs, attempts' inputs, outputs and logs fetched back.

    Raises:
        NotFound: the run has no step of that name (``field``: ``step``).
    """
    for step in run.get("steps", []):
        if step.get("name") == name:
            return await files.present_step(step)
    raise NotFound(f"run {run.get('id')!r} has no step {name!r}", field="step")
