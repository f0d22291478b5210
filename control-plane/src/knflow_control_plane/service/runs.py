"""The runs of one project as the API sees them: read, list, cancel, retry, and which files are theirs.

The routes parse and reply; the rules live here: a run of another project does not exist, a cancelled
run keeps what its attempts printed so far, a retry names a step the run has and a run that can be
retried, and a file link is only for a file of the run.
"""

from __future__ import annotations

import copy
import time
from dataclasses import replace
from typing import Protocol

from ..domain.files import FileRecord
from ..domain.map_views import ItemFilter, ItemPage
from ..domain.model import NoSuchStep, TransitionError
from ..domain.records import Page, RunFilter, RunView
from ..domain.transitions import ApprovalDecided
from ..errors import Conflict, NotFound
from ..ports import FileRecords, RunReads, RunTransitions
from .files import RunFiles
from .live_logs import LiveLogs
from .orchestrator import Orchestrator


class RunsStore(RunReads, RunTransitions, FileRecords, Protocol):
    """What the API's run actions read and change: runs, their transitions, their files."""


class Runs:
    """Reads and user actions on the runs of ``project``.

    Args:
        store: where runs live.
        orchestrator: applies a cancel's or a retry's transition (events, claims) on this replica.
        files: the runs' files (which keys a run's inputs name).
        live: output of running attempts, kept when a run is cancelled (None: functions send none).
        project: the project whose runs these are.
    """

    def __init__(
        self, store: RunsStore, orchestrator: Orchestrator, files: RunFiles, live: LiveLogs | None, project: str
    ):
        self.store, self.orchestrator, self.files, self.live = store, orchestrator, files, live
        self.project = project

    def of(self, project: str) -> Runs:
        """The same, for ``project``."""
        if project == self.project:
            return self
        found = copy.copy(self)
        found.project = project
        return found

    async def get(self, run_id: str) -> RunView:
        """The run with its steps and attempts.

        Raises:
            NotFound: no run ``run_id`` in this project.
        """
        view = await self.store.get_run(run_id, self.project)
        if view is None:
            raise NotFound(f"run {run_id!r} does not exist", field="run_id")
        return view

    async def check(self, run_id: str) -> None:
        """Make sure ``run_id`` is a run of this project (without reading it).

        Raises:
            NotFound: it is not.
        """
        if not await self.owned([run_id]):
            raise NotFound(f"run {run_id!r} does not exist", field="run_id")

    async def page(self, where: RunFilter) -> Page:
        """One page of runs, newest first."""
        return await self.store.list_runs(where)

    async def owned(self, run_ids: list[str]) -> set[str]:
        """Those of ``run_ids`` that are runs of this project."""
        return await self.store.in_project(run_ids, self.project)

    async def cancel(self, run_id: str) -> None:
        """Cancel the run: nothing new starts, running attempts are abandoned with what they printed so far.

        Raises:
            NotFound: no run ``run_id`` in this project.
        """
        transition = await self.store.cancel_run(run_id, time.time(), self.project)
        if transition is None:
            raise NotFound(f"run {run_id!r} does not exist", field="run_id")
        for attempt_id, text in (self.live.of_run(run_id) if self.live is not None else {}).items():
            await self.store.keep_logs(attempt_id, text)  # what it printed so far; all of it when it ends
        self.orchestrator.apply(transition)
        if self.orchestrator.children is not None:
            await self.orchestrator.children.cancel_below(run_id, self.project)  # and its child runs, down

    async def retry(self, run_id: str, step: str | None) -> None:
        """Run a finished run again from the steps that did not succeed, or from ``step`` and downstream.

        Raises:
            NotFound: no run ``run_id`` in this project, or no step ``step`` in it.
            Conflict: the run cannot be retried (it is still running, say).
        """
        try:
            transition = await self.store.retry_run(run_id, time.time(), self.project, step)
        except NoSuchStep as exc:
            raise NotFound(f"run {run_id!r}: {exc}", field="step") from exc
        except TransitionError as exc:
            raise Conflict(f"run {run_id!r} cannot be retried: {exc}", field="run_id") from exc
        if transition is None:
            raise NotFound(f"run {run_id!r} does not exist", field="run_id")
        self.orchestrator.apply(transition)  # its run.started (retry) reaches listeners; its steps are claimed next
        self.orchestrator.wake()

    async def decide(self, run_id: str, step: str, approved: bool, by: str, comment: str | None) -> None:
        """Approve or reject the waiting approval ``step`` of the run, as ``by``.

        Raises:
            NotFound: no run ``run_id`` in this project, or no step ``step`` in it.
            Conflict: the step is not waiting for a decision (decided already, timed out, not reached yet,
                or not an approval).
        """
        decision = ApprovalDecided(step, approved, by, comment)
        try:
            transition = await self.store.decide(run_id, self.project, decision, time.time())
        except NoSuchStep as exc:
            raise NotFound(f"run {run_id!r}: {exc}", field="step") from exc
        except TransitionError as exc:
            raise Conflict(f"run {run_id!r}: {exc}", field="step") from exc
        if transition is None:
            raise NotFound(f"run {run_id!r} does not exist", field="run_id")
        self.orchestrator.apply(transition)
        self.orchestrator.wake()  # the steps it released are claimed by the next poll

    async def items(self, where: ItemFilter) -> ItemPage:
        """One page of the items of a map step of a run of this project (``where.project`` is ignored).

        Raises:
            NotFound: no run ``run_id`` in this project, or no map step ``step`` in it.
        """
        try:
            page = await self.store.list_items(replace(where, project=self.project))
        except NoSuchStep as exc:
            raise NotFound(f"run {where.run_id!r}: {exc}", field="step") from exc
        if page is None:
            raise NotFound(f"run {where.run_id!r} does not exist", field="run_id")
        return page

    async def file(self, run_id: str, key: str) -> FileRecord:
        """The file ``key`` of the run, for a download link.

        A link is signed only for a file of a run of this project: that the run wrote, or that its inputs
        name (an upload's key alone, with a run id made up, bought a link).

        Raises:
            NotFound: no such run, no such file, not a file of this run, or deleted by retention.
        """
        view = await self.get(run_id)
        record = await self.store.get_file(key, self.project)
        if record is None:
            raise NotFound(f"no file {key!r}", field="key")
        if record.run_id != run_id and key not in await self.files.input_keys(view.inputs):
            raise NotFound(f"file {key!r} is not a file of run {run_id!r}", field="key")
        if record.expired_at is not None:
            raise NotFound(f"file {key!r} was deleted by the file retention policy", field="key", expired=True)
        return record
