"""The README's quick start, verbatim: its code saved as it says, each command run as written from a fresh
folder with the defaults (port 8080, state in ``./.knflow``, no ``KNFLOW_*`` variable), each output checked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from .markdown import Block, blocks, shell_lines
from .newcomer import ROOT, RUN_ID, Dev, crashed, default_port, shell

README = ROOT / "README.md"


def quick_start() -> tuple[Block, list[tuple[str, str]]]:
    """The README's first Python block (``counting.py``) and the shell block that starts ``knflow dev &``."""
    found = blocks(README)
    code = next(b for b in found if b.lang == "python")
    commands = next(shell_lines(b) for b in found if b.lang == "bash" and b.text.startswith("knflow dev &"))
    return code, commands


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    """An empty folder, with 8080 held for the test."""
    with default_port():
        yield tmp_path / "first-hour"


def test_the_readme_quick_start_works_as_written(folder: Path) -> None:
    code, commands = quick_start()
    assert "Save this as `counting.py` in an empty folder" in README.read_text()
    folder.mkdir()
    (folder / "counting.py").write_text(code.text)
    assert commands[0] == ("knflow dev &", "the embedded control plane on :8080, state in ./.knflow")
    dev = Dev(folder).start()
    try:
        _run_the_rest(commands[1:], folder, dev)
        dev.interrupt()
        assert dev.wait() == 0
    finally:
        dev.stop()
    said = dev.stdout()
    assert "listening on http://127.0.0.1:8080" in said
    assert f"state in {folder / '.knflow'}" in said and (folder / ".knflow" / "knflow.db").is_file()
    assert "deployed counting" in said and said.count("counting succeeded") >= 2 and "knflow dev: stopped" in said
    assert not crashed(dev.stderr())


def _run_the_rest(commands: list[tuple[str, str]], folder: Path, dev: Dev) -> None:
    """Each command as written (``RUN`` replaced by the id of the run it is about), each output checked."""
    assert [command for command, _ in commands] == [
        "knflow deploy counting.py",
        """curl -X POST localhost:8080/hooks/count -d '{"text": "to be or not to be"}'""",
        """curl -X POST localhost:8080/hooks/count -d '{"text": ""}'""",
        'knflow run counting -i text="hello world"',
        "knflow runs",
        "knflow logs RUN",
        "knflow retry RUN",
    ], "the README's quick start changed: check every new output here"
    ran: dict[str, str] = {}

    def run(index: int, run_id: str = "", code: int = 0) -> str:
        """The command's output (curl's progress meter, on stderr when piped, left out)."""
        command = commands[index][0].replace("RUN", run_id)
        result = shell(command, folder)
        assert result.returncode == code, (command, result.stdout, result.stderr)
        assert not crashed(result.stderr)
        return result.stdout if command.startswith("curl") else result.stdout + result.stderr

    deployed = run(0)
    assert "counting" in deployed and "ready" in deployed and "/hooks/count" in deployed

    assert commands[1][1] == "-> 6" and run(1).strip() == "6"

    refused = json.loads(run(2))
    assert commands[2][1].startswith('-> 422 {"error":"no words","code":422')
    assert refused["error"] == "no words" and refused["code"] == 422 and refused["step"] == "count"
    ran["failed"] = refused["workflow_run_id"]

    followed = run(3)
    assert commands[3][1].endswith("then the result: 2")
    assert "extract" in followed and "count" in followed and "succeeded" in followed
    assert "result: 2" in followed
    ran["hello"] = RUN_ID.findall(followed)[0]

    listed = run(4)
    assert ran["failed"] in listed and ran["hello"] in listed and len(set(RUN_ID.findall(listed))) == 3

    logs = run(5, ran["hello"])
    assert "extract" in logs and "2 words" in logs  # what counting.py's extract printed

    retried = run(6, ran["failed"], code=1)  # a failed run again: count still has no words
    assert ran["failed"] in retried and "no words" in retried
    assert f"run {ran['failed']}" in dev.stdout() and f"{ran['failed']} counting retried" in dev.stdout()
