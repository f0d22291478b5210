"""The runtime's cold path stays lean: no web framework, ORM, Kafka, ASGI server or HTTP client."""

from __future__ import annotations

import json
import os
import subprocess
import sys

HEAVY = ["fastapi", "starlette", "sqlalchemy", "aiokafka", "uvicorn", "httpx", "urllib.request", "yaml"]


def _loaded_after(statement: str) -> dict[str, bool]:
    probe = f"import sys; {statement}; print(__import__('json').dumps({{m: m in sys.modules for m in {HEAVY!r}}}))"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KNFLOW_")}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env)
    return dict(json.loads(done.stdout))


def test_the_server_imports_nothing_heavy() -> None:
    assert _loaded_after("import knflow_runtime.lifecycle") == dict.fromkeys(HEAVY, False)


def test_the_control_plane_can_import_the_contract_without_the_server() -> None:
    probe = (
        "import sys, knflow_runtime.contract; print('knflow_runtime.http' in sys.modules, 'httptools' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]
