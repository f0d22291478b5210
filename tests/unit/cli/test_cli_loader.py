"""Loading users' files: workflows and actions from .py, specs from YAML, and the code bundle."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from knflow import SpecError
from knflow._loader import bundle, load_file

FLOW = """
from knflow import action, workflow, http_trigger

@action
def greet(name: str) -> dict:
    return {"text": "hello " + name}

@workflow(triggers=[http_trigger(path="/greet")])
def {wf}(name: str):
    return greet(name=name)["text"]
"""

SPEC = """
name: greeting
inputs:
  name: {type: {type: string}}
steps:
  - name: g
    action: greet
    inputs: {name: {input: name}}
result: {step: g, output: text}
"""


@pytest.fixture(autouse=True)
def forget_user_modules() -> Iterator[None]:
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if getattr(sys.modules[name], "__knflow_user_module__", False):
            del sys.modules[name]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_python_file_yields_its_workflows_actions_and_bundle(tmp_path: Path) -> None:
    flow = write(tmp_path / "myflow.py", FLOW.replace("{wf}", "hello"))
    write(tmp_path / "lib" / "helpers.py", "X = 1\n")
    write(tmp_path / "__pycache__" / "junk.py", "")
    write(tmp_path / ".venv" / "site.py", "")
    write(tmp_path / "README.md", "not code")
    project = load_file(flow)
    assert list(project.workflows) == ["hello"]
    assert project.workflows["hello"].actions["greet"].entrypoint == "myflow:greet"
    assert project.actions["greet"].entrypoint == "myflow:greet"
    assert sorted(project.files) == ["lib/helpers.py", "myflow.py"]
    assert project.files["lib/helpers.py"] == b"X = 1\n"
    assert str(tmp_path) not in sys.path


def test_yaml_spec_takes_missing_actions_from_sibling_python_files(tmp_path: Path) -> None:
    write(tmp_path / "acts.py", FLOW.replace("{wf}", "other"))
    spec_file = write(tmp_path / "greeting.yaml", SPEC)
    project = load_file(spec_file)
    spec = project.workflows["greeting"]
    assert spec.actions["greet"].entrypoint == "acts:greet"
    assert list(project.files) == ["acts.py"]


def test_missing_action_is_named(tmp_path: Path) -> None:
    write(tmp_path / "unrelated.py", "VALUE = 1\n")
    spec_file = write(tmp_path / "greeting.yml", SPEC)
    with pytest.raises(SpecError, match="no @action named greet"):
        load_file(spec_file)


def test_import_error_names_the_file_and_the_exception(tmp_path: Path) -> None:
    broken = write(tmp_path / "broken.py", "import does_not_exist_anywhere\n")
    with pytest.raises(SpecError) as caught:
        load_file(broken)
    message = str(caught.value)
    assert "broken.py" in message
    assert "ModuleNotFoundError" in message
    assert "does_not_exist_anywhere" in message
    assert "broken" not in sys.modules


def test_invalid_workflow_reports_the_file(tmp_path: Path) -> None:
    bad = write(
        tmp_path / "badflow.py",
        """
        from knflow import workflow

        @workflow
        def bad(*args):
            return None
        """,
    )
    with pytest.raises(SpecError, match=r"badflow\.py: .*plain named parameter"):
        load_file(bad)


def test_file_without_workflow_or_wrong_kind_or_name(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no @workflow"):
        load_file(write(tmp_path / "empty.py", "A = 1\n"))
    with pytest.raises(SpecError, match=r"expected a \.py"):
        load_file(write(tmp_path / "flow.txt", ""))
    with pytest.raises(SpecError, match="no such file"):
        load_file(tmp_path / "absent.py")
    with pytest.raises(SpecError, match="not a valid Python module name"):
        load_file(write(tmp_path / "my-flow.py", ""))
    with pytest.raises(SpecError, match="taken by an installed module"):
        load_file(write(tmp_path / "json.py", ""))


def test_bundle_is_capped(tmp_path: Path) -> None:
    write(tmp_path / "big.py", "x" * 2048)
    with pytest.raises(SpecError, match="exceeds"):
        bundle(tmp_path, max_bytes=1024)
    assert bundle(tmp_path, max_bytes=4096) == {"big.py": b"x" * 2048}


ABSENT = """\
import knflow_unit_absent_pkg
from knflow_unit_absent_pkg.sub import helper
from knflow import action, workflow

CLIENT = knflow_unit_absent_pkg.Client(region="x")


class Model(knflow_unit_absent_pkg.Base):
    pass


@action(requirements=["knflow-unit-absent-pkg"])
@knflow_unit_absent_pkg.cached
def fetch(key: str, hint: knflow_unit_absent_pkg.Hint | None = None) -> dict:
    return helper(CLIENT.get(key))


@workflow
def fetching(key: str):
    return fetch(key=key)
"""


def test_a_package_an_action_requires_is_recorded_with_a_stand_in_when_not_installed(tmp_path: Path) -> None:
    project = load_file(write(tmp_path / "absentflow.py", ABSENT))

    assert project.absent == ("knflow_unit_absent_pkg",)
    spec = project.workflows["fetching"]
    assert [step.action for step in spec.steps] == ["fetch"]
    assert spec.actions["fetch"].inputs["hint"].type == {}  # a type only known where it runs: anything here
    assert spec.actions["fetch"].entrypoint == "absentflow:fetch"  # the decorator left the function as it was
    assert not any(name.startswith("knflow_unit_absent_pkg") for name in sys.modules)


def test_a_missing_package_no_action_requires_fails_the_load_saying_what_to_do(tmp_path: Path) -> None:
    flow = write(tmp_path / "norequire.py", ABSENT.replace('requirements=["knflow-unit-absent-pkg"]', ""))

    with pytest.raises(SpecError, match="No module named 'knflow_unit_absent_pkg'; install it here, or list it in"):
        load_file(flow)
    assert "norequire" not in sys.modules
