"""A new user's first hour, as they live it: deploy tells the truth, failures are fast and readable.

Every test drives the real ``knflow`` CLI against a real ``knflow dev``. The package an action requires is
a one-module wheel written by the test (installed by uv from its path: nothing is downloaded), and it is
not installed where the CLI runs: the CLI traces the file without it, the deploy imports it for real.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from pathlib import Path

from .processes import ControlPlane


def greeting_wheel(folder: Path, name: str = "knflow_e2e_greeting") -> Path:
    """A wheel of one module, ``greet(who) -> "hello " + who``, that nothing in the workspace installs."""
    version = "1.0"
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": b"def greet(who):\n    return 'hello ' + who\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: knflow-e2e\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }

    def digest(data: bytes) -> str:
        return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()

    record = "".join(f"{path},sha256={digest(data)},{len(data)}\n" for path, data in files.items())
    files[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel


def project(tmp: Path, files: dict[str, str]) -> Path:
    folder = tmp / "project"
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


GREETER = """\
import {module}
from knflow import action, workflow

@action(requirements=[{wheel!r}])
def greet(who: str = "you") -> str:
    return {module}.greet(who)

@workflow
def greeting(who: str = "you"):
    return greet(who=who)
"""


def test_a_requirement_imported_at_the_top_deploys_without_being_installed_here(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    wheel = greeting_wheel(tmp_path)
    folder = project(tmp_path, {"flows.py": GREETER.format(module="knflow_e2e_greeting", wheel=str(wheel))})

    deployed = control_plane.cli("deploy", str(folder / "flows.py"))

    assert deployed.returncode == 0, deployed.stderr
    assert "✓ ready" in deployed.stdout
    assert "traced without knflow_e2e_greeting (not installed here)" in deployed.stderr
    ran = control_plane.cli("run", "greeting", "-i", "who=ada", "--json")
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["result"] == "hello ada"


def test_deploy_fails_naming_the_action_and_its_import_error(control_plane: ControlPlane, tmp_path: Path) -> None:
    wheel = greeting_wheel(tmp_path)
    # A typo in the import: the CLI cannot tell it from a requirement, the action's own venv can.
    text = GREETER.format(module="knflow_e2e_greetin", wheel=str(wheel))
    folder = project(tmp_path, {"typo.py": text})

    deployed = control_plane.cli("deploy", str(folder / "typo.py"))

    assert deployed.returncode == 1
    assert "✗ failed" in deployed.stdout
    assert (
        "deploying greeting failed: action greet cannot be imported: cannot import module 'typo': "
        "ModuleNotFoundError: No module named 'knflow_e2e_greetin' (typo.py, line 1)"
    ) in " ".join(deployed.stderr.split())
    assert "Traceback" not in deployed.stderr
    refused = control_plane.cli("run", "greeting")
    assert refused.returncode == 2 and "is not deployed" in refused.stderr

    # A missing package that no action asks for is refused where the user is, in one line.
    alone = project(tmp_path, {"alone.py": text.replace(f"requirements=[{str(wheel)!r}]", "")})
    local = control_plane.cli("deploy", str(alone / "alone.py"))
    assert local.returncode == 2
    assert local.stderr.strip().splitlines() == [
        f"error: {alone / 'alone.py'}: importing it failed: ModuleNotFoundError: No module named "
        "'knflow_e2e_greetin'; install it here, or list it in requirements= of the @action that needs it"
    ]


def test_deploy_checks_the_signature_the_action_has_where_it_runs(control_plane: ControlPlane, tmp_path: Path) -> None:
    wheel = greeting_wheel(tmp_path)
    # The parameter's type comes from the package: "any" where the CLI traces, str where it runs.
    text = GREETER.format(module="knflow_e2e_greeting", wheel=str(wheel)).replace(
        "from knflow import action, workflow\n",
        "from typing import Any\nfrom knflow import action, workflow\n"
        "Who = str if hasattr(knflow_e2e_greeting, '__file__') else Any\n",
    )
    folder = project(tmp_path, {"flows.py": text.replace('def greet(who: str = "you")', 'def greet(who: Who = "you")')})

    deployed = control_plane.cli("deploy", str(folder / "flows.py"))

    assert deployed.returncode == 1
    assert (
        "deploying greeting failed: action greet: input 'who' is string where it runs but any as traced"
    ) in " ".join(deployed.stderr.split())


BREAKABLE = """\
import os
import time
from typing import TypedDict
from knflow import action, workflow

if os.path.exists({marker!r}):
    raise RuntimeError("the settings file is unreadable")


class Count(TypedDict):
    count: int


@action(retries=3)
def hello(name: str = "you") -> str:
    return "hello " + name


@workflow
def greet(name: str = "you"):
    return hello(name=name)


@action
def divide(x: int = 1) -> float:
    print("dividing", x, flush=True)
    return 1 / (x - 1)


@workflow
def ratio(x: int = 1):
    return divide(x=x)


@action
def count(word: str = "three") -> dict[str, int]:
    return {{"count": word}}


@workflow
def counted(word: str = "three"):
    return count(word=word)
"""


def test_an_import_error_when_a_step_starts_fails_it_at_once_with_its_traceback(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    marker = tmp_path / "unreadable"
    folder = project(tmp_path, {"breakable.py": BREAKABLE.format(marker=str(marker))})
    assert control_plane.cli("deploy", str(folder / "breakable.py")).returncode == 0
    marker.touch()  # the module now fails where it is imported: a cold start, not a deploy

    ran = control_plane.cli("run", "greet", "--json")

    assert ran.returncode == 1
    run = json.loads(ran.stdout)
    [step] = run["steps"]
    [attempt] = step["attempts"]  # final: not retried as a lost instance, nor by the action's retries
    assert attempt["error"]["type"] == "RuntimeError"
    assert attempt["error"]["retryable"] is False
    assert attempt["error"]["message"] == (
        "action hello cannot be imported: cannot import module 'breakable': RuntimeError: "
        "the settings file is unreadable (breakable.py, line 7)"
    )
    assert 'raise RuntimeError("the settings file is unreadable")' in attempt["error"]["traceback"]
    shown = control_plane.cli("get", run["id"])
    assert shown.returncode == 0
    text = shown.stdout + shown.stderr
    assert "step hello failed: RuntimeError: action hello cannot be imported" in " ".join(text.split())
    assert 'raise RuntimeError("the settings file is unreadable")' in text
    assert "run failed:" not in text  # the step's error is the run's: told once


def test_get_shows_the_failed_steps_traceback_and_outputs_are_checked_against_the_annotation(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    folder = project(tmp_path, {"breakable.py": BREAKABLE.format(marker=str(tmp_path / "absent"))})
    assert control_plane.cli("deploy", str(folder / "breakable.py")).returncode == 0

    failed = control_plane.cli("run", "ratio", "--json")
    assert failed.returncode == 1
    shown = control_plane.cli("get", json.loads(failed.stdout)["id"])
    assert "step divide failed: ZeroDivisionError: division by zero" in shown.stdout
    assert "Traceback (most recent call last):" in shown.stdout
    assert "return 1 / (x - 1)" in shown.stdout

    wrong = control_plane.cli("run", "counted", "--json")
    assert wrong.returncode == 1
    error = json.loads(wrong.stdout)["steps"][0]["error"]
    assert error["type"] == "OutputError" and error["retryable"] is False
    assert error["message"] == "output 'count': does not match the return annotation: expected integer, got string"


def test_a_failed_build_shows_the_useful_lines_of_its_log(control_plane: ControlPlane, tmp_path: Path) -> None:
    missing = tmp_path / "wheels" / "knflow_e2e_gone-1.0-py3-none-any.whl"
    text = GREETER.format(module="knflow_e2e_gone", wheel=str(missing))
    folder = project(tmp_path, {"flows.py": text})

    deployed = control_plane.cli("deploy", str(folder / "flows.py"))

    assert deployed.returncode == 1
    said = " ".join(deployed.stderr.split())
    assert "deploying greeting failed: action greet: uv pip install failed with exit code" in said
    assert "error:" in said  # uv's own reason, not only an exit code
    assert f"notfoundat:file://{missing}" in "".join(deployed.stderr.split()).lower()
    assert "Using Python" not in said  # the progress lines are left in the build's log


CRASHING = """\
import os
from knflow import action, workflow

if os.path.exists({marker!r}):
    print("importing crashing: the native library is missing", flush=True)
    os._exit(3)  # a crash, not an exception: nothing tells it from a process the platform lost


@action
def crash() -> int:
    return 1


@workflow
def crashing():
    return crash()
"""


def test_a_start_that_crashes_is_retried_and_each_attempt_tells_only_its_own_output(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    marker = tmp_path / "crash"
    folder = project(tmp_path, {"crashing.py": CRASHING.format(marker=str(marker))})
    assert control_plane.cli("deploy", str(folder / "crashing.py")).returncode == 0
    marker.touch()

    ran = control_plane.cli("run", "crashing", "--json")

    assert ran.returncode == 1
    [step] = json.loads(ran.stdout)["steps"]
    assert len(step["attempts"]) == 6  # lost to the platform: the first and five retries
    for attempt in step["attempts"]:
        assert attempt["error"]["type"] == "AttemptLost"
        assert attempt["error"]["message"].count("the native library is missing") == 1
