"""``knflow approve RUN STEP`` and ``knflow reject RUN STEP``: decide a run's waiting approval."""

from __future__ import annotations

from typing import Annotated

import typer

from . import _context
from ._context import JsonOption, Output, RunArgument, UrlOption, handles_errors

StepArgument = Annotated[str, typer.Argument(metavar="STEP", help="Its approval step, waiting for a decision.")]
CommentOption = Annotated[str | None, typer.Option("--comment", "-m", help="Why; kept with the decision.")]


def register(app: typer.Typer) -> None:
    """Add ``approve`` and ``reject`` to ``app``."""

    @app.command()
    @handles_errors
    def approve(
        run_id: RunArgument,
        step: StepArgument,
        comment: CommentOption = None,
        url: UrlOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Approve the waiting approval STEP of RUN: the run goes on."""
        _decide(run_id, step, True, comment, url, as_json)

    @app.command()
    @handles_errors
    def reject(
        run_id: RunArgument,
        step: StepArgument,
        comment: CommentOption = None,
        url: UrlOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Reject the waiting approval STEP of RUN: the step fails, and the run with it."""
        _decide(run_id, step, False, comment, url, as_json)


def _decide(run_id: str, step: str, approve: bool, comment: str | None, url: str | None, as_json: bool) -> None:
    out = Output(as_json)
    with _context.make_client(url) as client:
        found = client.decide(run_id, step, approve=approve, comment=comment)
    if out.as_json:
        out.json(_context.as_json(found))
        return
    verb = "approved" if approve else "rejected"
    out.console.print(f"run {found.id}: step {step} {verb}; the run is {found.status}", markup=False)
