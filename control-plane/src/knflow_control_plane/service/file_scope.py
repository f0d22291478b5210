"""Files a run names belong to its project: the rule that keeps one project's files out of another's runs.

A ``File`` reference carries only its key. A run may name a file uploaded in its own project
(``uploads/{id}/...``) or one written by a run of its own project (``runs/{run}/{step}/{attempt}/...``); both
have a record with their project in the files table. A key with no record in the run's project is refused
as not found, with the same words whether it exists in another project or nowhere, so the answer does not
tell one project what another holds. Files written by the same run's upstream steps need no lookup: their
keys are under the run's own prefix, which only its attempts are given upload URLs for.
"""

from __future__ import annotations

from typing import Any

from ..domain.files import file_refs
from ..errors import InvalidRequest
from ..ports import FileRecords


class UnknownFile(InvalidRequest):
    """A run's inputs name a file that is not one of its project's (never stored, or another project's).

    Attributes:
        fields: ``field`` (``inputs.photo``), ``key``.
    """


def of_run(key: str, run_id: str) -> bool:
    """Whether ``key`` is a file written by an attempt of run ``run_id``."""
    return key.startswith(f"runs/{run_id}/")


async def owned(records: FileRecords, key: str, project: str) -> bool:
    """Whether ``key`` names a file of ``project`` (an upload made in it or a file one of its runs wrote)."""
    return await records.get_file(key, project) is not None


async def check_input_files(records: FileRecords, project: str, inputs: dict[str, Any]) -> None:
    """Refuse a run whose inputs name a file that is not one of ``project``'s (one lookup per distinct key).

    Raises:
        UnknownFile: naming the first such input (``inputs.photo``, ``inputs.images[1]``).
    """
    seen: set[str] = set()
    for path, ref in file_refs(inputs):
        key = ref.get("key")
        if isinstance(key, str) and key in seen:
            continue
        if not isinstance(key, str) or not key or not await owned(records, key, project):
            raise UnknownFile(f"input {path!r}: file {key!r} not found", field=f"inputs.{path}", key=key)
        seen.add(key)
