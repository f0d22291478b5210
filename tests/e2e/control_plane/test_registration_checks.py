"""Registration refuses what deploy would: code paths outside the bundle, an HTTP trigger path another
workflow holds, and an action version registered again with other code (a version names one code)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from knflow._loader import load_file

from .processes import ControlPlane

FLOWS = Path(__file__).parent / "flows"


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    cp = ControlPlane(tmp_path_factory.mktemp("registration") / ".knflow").start()
    yield cp
    cp.stop()


def chain() -> tuple[dict[str, Any], dict[str, bytes]]:
    loaded = load_file(FLOWS / "chain.py")
    return loaded.workflows["chain"].model_dump(mode="json"), dict(loaded.files)


def register(cp: ControlPlane, spec: dict[str, Any], files: dict[str, bytes] | None) -> httpx.Response:
    body: dict[str, Any] = {"spec": spec}
    if files is not None:
        body["code"] = {"files": {path: base64.b64encode(data).decode() for path, data in files.items()}}
    return httpx.post(f"{cp.url}/v1/workflows", json=body, timeout=60)


@pytest.mark.parametrize("path", ["../evil.py", "/etc/evil.py", "a/../../evil.py", "a\\..\\evil.py", "a//b.py"])
def test_a_code_path_outside_the_bundle_is_refused_naming_it(plane: ControlPlane, path: str) -> None:
    spec, files = chain()
    reply = register(plane, spec, {**files, path: b"print('escaped')\n"})
    assert reply.status_code == 422, reply.text
    assert reply.json()["field"] == f"code.files.{path}"
    assert httpx.get(f"{plane.url}/v1/workflows/chain").status_code == 404  # nothing stored


def test_registration_refuses_a_taken_trigger_path_and_other_code_for_a_known_version(plane: ControlPlane) -> None:
    spec, files = chain()
    assert register(plane, spec, files).status_code == 201
    deployed = httpx.post(f"{plane.url}/v1/workflows/chain/deploy", timeout=300)
    assert deployed.status_code == 200 and deployed.json()["status"] == "ready", deployed.text

    squatter = {**spec, "name": "squatter"}  # the same POST /chain trigger
    reply = register(plane, squatter, None)
    assert reply.status_code == 409, reply.text
    assert reply.json()["field"] == "triggers" and "/chain" in reply.json()["detail"]
    assert httpx.get(f"{plane.url}/v1/workflows/squatter").status_code == 404

    forged = {path: data + b"\nprint('not the registered code')\n" for path, data in files.items()}
    reply = register(plane, spec, forged)
    assert reply.status_code == 409, reply.text
    assert reply.json()["field"] == "actions.step"
    assert register(plane, spec, files).status_code == 200  # the same code again is fine
