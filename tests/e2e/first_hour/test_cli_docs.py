"""docs/cli.md, run: every ``console`` block's commands as written (its run ids replaced by real ones)
against ``knflow dev`` on port 8080 in a fresh folder, each output checked for what the block shows.

What a block shows is checked on its essential content: each expected piece must appear both in the
block and in what the command printed, so a stale doc fails here as surely as a broken command."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from .markdown import blocks, transcript
from .newcomer import ROOT, RUN_ID, Dev, crashed, default_port, shell

CLI_MD = ROOT / "docs" / "cli.md"
NAPPING = """
import time

from knflow import action, workflow


@action(timeout="60s")
def nap(seconds: float) -> dict:
    time.sleep(seconds)
    return {"slept": seconds}


@workflow
def napping(seconds: float):
    return nap(seconds=seconds)["slept"]
"""


def sessions() -> list[list[tuple[str, str]]]:
    """The ``$ command`` / output pairs of each console block of docs/cli.md, in order."""
    return [transcript(b) for b in blocks(CLI_MD) if b.lang == "console"]


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    with default_port():
        path = tmp_path / "greetings"
        path.mkdir()
        yield path


class Checker:
    """Runs a doc command in the folder and checks that pieces of its doc output are in its real one."""

    def __init__(self, folder: Path):
        self.folder = folder

    def __call__(
        self, step: tuple[str, str], pieces: list[str], *, code: int = 0, ids: dict[str, str] | None = None
    ) -> str:
        """Run ``step``'s command with each doc id replaced by its real one (``ids``); the output is
        returned (and checked) with the real ids put back as the doc's."""
        command, shown = step
        for placeholder, real in (ids or {}).items():
            command = command.replace(placeholder, real)
        result = shell(command, self.folder)
        printed = result.stdout + result.stderr
        assert result.returncode == code, (command, printed)
        assert not crashed(printed)
        for placeholder, real in (ids or {}).items():
            printed = printed.replace(real, placeholder)
        for piece in pieces:
            assert piece in shown, f"docs/cli.md no longer shows {piece!r} for {step[0]!r}"
            assert piece in printed, f"{command!r} did not print {piece!r}: {printed}"
        return printed


#: Console blocks another test runs (by their first command), with the test. Blocks without a command
#: (an output's format: a failed step's traceback) are checked by the tests of that output.
ELSEWHERE = {
    "knflow deploy other/flow.py": "tests/e2e/control_plane/test_first_hour_cli.py",
    "knflow deploy typo.py": "tests/e2e/control_plane/test_first_hour_deploy.py",
    "knflow workflows": "tests/e2e/control_plane/test_first_hour_cli.py",
    "knflow graph fanin": "tests/e2e/control_plane/test_first_hour_cli.py",
    "knflow files 01a24...": "tests/e2e/files/test_files_cli.py",
    "knflow logs 01a248aee2f1ba3a98d850e36033 --follow": "tests/e2e/control_plane/test_follow_logs.py",
    "knflow rejected": "tests/e2e/control_plane/test_rejected_events.py",
    "knflow runs --limit 3": "tests/e2e/control_plane/test_flow_children.py",
    "knflow runs --status queued": "tests/e2e/control_plane/test_flow_concurrency.py",
}


def test_every_console_block_with_a_command_is_checked_here_or_by_the_test_named() -> None:
    for first, test in ELSEWHERE.items():
        assert (ROOT / test).is_file(), (first, test)
    firsts = [session[0][0] for session in sessions() if session]
    assert set(ELSEWHERE) <= set(firsts), "a block named in ELSEWHERE is gone from docs/cli.md"


def test_every_console_block_of_the_cli_docs(folder: Path) -> None:
    here = [session for session in sessions() if session and session[0][0] not in ELSEWHERE]
    firsts = [session[0][0] for session in here]
    assert firsts == [
        "knflow dev",
        "cat flow.py",
        "knflow run hello -i name=bob",
        "knflow run hello -i name=",
        "knflow runs --workflow hello --limit 5",
        "knflow get 01a209fdef7dbe157659f73568ab",
        "knflow logs 01a209fdef7dbe157659f73568ab",
        "knflow cancel 01b7...",
        "knflow undeploy hello",
        "knflow runs",
    ], "docs/cli.md changed: check its new blocks here"
    dev_block, deploy_block, *rest = here
    (cat, file_text), deploy = deploy_block
    assert cat == "cat flow.py" and deploy[0] == "knflow deploy flow.py" and dev_block[0][0] == "knflow dev"
    (folder / "flow.py").write_text(file_text.strip() + "\n")
    check = Checker(folder)
    dev = Dev(folder).start()
    try:
        version = re.search(r"[0-9a-f]{12}", deploy[1])
        assert version is not None
        check(deploy, ["hello", version.group(), "ready", "POST /hooks/greet"])
        failed = _runs_and_inspection(check, rest[:5])
        _cancel_and_retry(check, folder, rest[5], failed)
        check(rest[6][0], ["workflow hello: undeployed"])
        check(
            rest[6][1],
            ["error: 409 The request clashes with the current state: workflow 'hello' is not deployed"],
            code=2,
        )
        dev.interrupt()
        assert dev.wait() == 0
    finally:
        dev.stop()
    _compare_dev_lines(dev_block[0][1], dev.stdout())
    assert rest[7][0][0] == "knflow runs"  # nothing listens on 8080 now, and the lock keeps it so
    reach = "error: cannot reach the knflow control plane at http://127.0.0.1:8080"
    check(rest[7][0], [reach, "is it running? Start one locally with `knflow dev`"], code=2)


def _runs_and_inspection(check: Checker, steps: list[list[tuple[str, str]]]) -> str:
    """``run`` (succeeded, failed), ``runs``, ``get``, ``logs``; the id of the failed run."""
    (run_ok,), (run_failed, status), (listing,), (getting,), (logs,) = steps
    shown_ok, shown_failed = RUN_ID.findall(run_ok[1])[0], RUN_ID.findall(run_failed[1])[0]
    printed = check(run_ok, ["of hello (", 'result: "HELLO BOB"'])
    ids = {shown_ok: str(RUN_ID.findall(printed)[0])}
    assert f"run {shown_ok} of hello (" in run_ok[1] and f"run {ids[shown_ok]} of hello (" in printed
    assert "succeeded  greet" in printed and "succeeded  shout" in printed and "✓ succeeded in" in printed
    assert "succeeded  greet" in run_ok[1] and "succeeded  shout" in run_ok[1]
    printed = check(
        run_failed,
        ["failed  greet", "skipped  shout", "step greet failed: ValueError: nobody to greet", "Traceback", "line 6"],
        code=1,
    )
    failed = str(RUN_ID.findall(printed)[0])
    assert status == ("echo $?", "1") and shown_failed in run_failed[1]
    check(listing, ["hello", shown_ok, "✓"], ids=ids)  # the status's mark: 80 columns may cut its word
    check(
        getting,
        [f"run {shown_ok}", "succeeded", "workflow  hello (", "manual", "greet", "shout", 'result: "HELLO BOB"'],
        ids=ids,
    )
    check(
        logs, ["greet · attempt 1 · succeeded", "greeting bob", "shout · attempt 1 · succeeded", "(no output)"], ids=ids
    )
    return failed


def _cancel_and_retry(check: Checker, folder: Path, steps: list[tuple[str, str]], failed: str) -> None:
    """``cancel`` a run still running (of a workflow that sleeps), ``retry`` the failed run of hello, then
    again from a chosen step."""
    cancel, retry, retry_step = steps
    slow = folder / "slow"
    slow.mkdir()
    (slow / "napping.py").write_text(NAPPING)
    assert shell("knflow deploy slow/napping.py", folder).returncode == 0
    started = shell("knflow run napping -i seconds=5 --no-wait", folder)
    running = RUN_ID.findall(started.stdout)[0]
    check(cancel, ["run 01b7...: cancelled"], ids={"01b7...": running})
    assert retry[0].startswith("knflow retry 01c3...") and "followed like `knflow run`" in CLI_MD.read_text()
    printed = check(retry, [], code=1, ids={"01c3...": failed})
    assert "failed  greet" in printed and "step greet failed: ValueError: nobody to greet" in printed
    assert retry_step[0] == "knflow retry 01c3... --step greet"
    printed = check(retry_step, [], code=1, ids={"01c3...": failed})
    assert "step greet failed: ValueError: nobody to greet" in printed


def _compare_dev_lines(shown: str, printed: str) -> None:
    """Every line ``knflow dev`` is shown printing is printed, up to times, ids, durations and paths."""

    def plain(line: str) -> str:
        line = RUN_ID.sub("RUN", line.removeprefix("^C"))
        line = re.sub(r"^\d\d:\d\d:\d\d ", "", line)
        line = re.sub(r"\d+(\.\d+)? (ms|s)\b", "DURATION", line)
        return re.sub(r"/\S*/\.knflow", "FOLDER/.knflow", line)

    printed_lines = [plain(line) for line in printed.splitlines()]
    for line in shown.splitlines():  # "stopping" may go on with what it waits for
        assert any(p.startswith(plain(line)) for p in printed_lines), f"knflow dev did not print {line!r}: {printed}"
