"""Files across projects on ONE control plane (a real ``knflow dev``): a run names only its own project's
files. Project A cannot start a run (API, hook) whose input names project B's upload: 422 naming the input,
"not found" as for a key that never existed, and no run, so no download URL reaches A's function. A file
written by A's own earlier run is named by A's next run as before; B cannot name it. A file uploaded
through a public hook is the hook's project's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .processes import ControlPlane
from .test_projects import BOOT, _bearer, _create, _deploy

FLOW = '''
from knflow import File, action, http_trigger, workflow


@action(retries=0)
def copy(data: File) -> File:
    """A copy of ``data``: a file written by this run."""
    return File.from_bytes(data.read_bytes(), name=f"copy-{data.name}")


@action(retries=0)
def read(data: File) -> str:
    """The text of ``data``."""
    return data.read_bytes().decode()


@workflow(triggers=[http_trigger(path="/copy-a-file", timeout="60s")])
def copier(data: File) -> object:
    """Copy a file."""
    return copy(data=data)["result"]  # type: ignore[index]


@workflow(triggers=[http_trigger(path="/read-a-file", public=True, timeout="60s")])
def reader(data: File) -> object:
    """Read a file."""
    return read(data=data)["result"]  # type: ignore[index]
'''


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[ControlPlane]:
    """One control plane with keys on (SQLite in ``.knflow``, as a user runs it)."""
    started = ControlPlane(tmp_path / ".knflow", env={"KNFLOW_AUTH": "true", "KNFLOW_BOOTSTRAP_KEY": BOOT}).start()
    yield started
    started.stop()


def _upload(plane: ControlPlane, key: str, text: str) -> dict[str, Any]:
    reply = httpx.post(
        f"{plane.url}/v1/files", params={"name": "note.txt"}, content=text.encode(), headers=_bearer(key)
    )
    assert reply.status_code == 201, reply.text
    file: dict[str, Any] = reply.json()["file"]
    return file


def _run(plane: ControlPlane, key: str, workflow: str, data: dict[str, Any]) -> httpx.Response:
    body = {"workflow": workflow, "inputs": {"data": data}}
    return httpx.post(f"{plane.url}/v1/runs?wait=60", json=body, headers=_bearer(key), timeout=90)


def _runs(plane: ControlPlane, key: str) -> list[str]:
    return [r["id"] for r in httpx.get(f"{plane.url}/v1/runs", headers=_bearer(key)).json()["runs"]]


def _refused(reply: httpx.Response, field: str, file_key: str) -> None:
    assert reply.status_code == 422, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    problem = reply.json()
    assert problem["field"] == field, problem
    assert problem["detail"] == f"input 'data': file {file_key!r} not found", problem  # as if it never existed


def test_a_run_names_only_files_of_its_own_project(plane: ControlPlane, tmp_path: Path) -> None:
    alpha, beta = _create(plane, "alpha"), _create(plane, "beta")
    for name, key in (("alpha", alpha), ("beta", beta)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "files.py").write_text(FLOW.replace("-a-file", f"-{name}"))
        _deploy(plane, key, tmp_path / name / "files.py")

    theirs = _upload(plane, beta, "beta's secret")
    their_key = theirs["knflow.file"]["key"]
    _refused(_run(plane, alpha, "reader", theirs), "inputs.data", their_key)
    hook = httpx.post(f"{plane.url}/hooks/copy-alpha", json={"data": theirs}, headers=_bearer(alpha), timeout=90)
    _refused(hook, "inputs.data", their_key)
    never = {"knflow.file": {**theirs["knflow.file"], "key": "uploads/0123456789abcdef/note.txt"}}
    _refused(_run(plane, alpha, "reader", never), "inputs.data", "uploads/0123456789abcdef/note.txt")  # same words
    assert _runs(plane, alpha) == []  # refused before any run: A's function never got a URL to B's file

    # A public hook's caller has no project: a file uploaded through it is the hook's project's.
    posted = httpx.post(f"{plane.url}/hooks/read-beta", files={"data": ("n.txt", b"via hook")}, timeout=90)
    assert posted.status_code == 200 and posted.json() == "via hook", posted.text
    read = _run(plane, beta, "reader", theirs)
    assert read.json()["status"] == "succeeded" and read.json()["result"] == "beta's secret", read.text

    # A's own files: an upload, copied by one run; the copy (written by that run) read by the next.
    copied = _run(plane, alpha, "copier", _upload(plane, alpha, "alpha's note"))
    assert copied.json()["status"] == "succeeded", copied.text
    output = {"knflow.file": {k: v for k, v in copied.json()["result"]["knflow.file"].items() if k != "url"}}
    assert output["knflow.file"]["key"].startswith(f"runs/{copied.json()['id']}/")
    again = _run(plane, alpha, "reader", output)
    assert again.json()["status"] == "succeeded" and again.json()["result"] == "alpha's note", again.text
    _refused(_run(plane, beta, "reader", output), "inputs.data", output["knflow.file"]["key"])
