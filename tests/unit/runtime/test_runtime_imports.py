"""The runtime's cold path stays lean: no web framework, ORM, Kafka, ASGI server or HTTP client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HEAVY = ["fastapi", "starlette", "sqlalchemy", "aiokafka", "uvicorn", "httpx", "urllib.request", "yaml"]
#: Imported only where needed: argument parsing (a container passes no arguments, nor does the local
#: backend), temporary files, paths and their removal (file transfers), MIME types (files), hashes (versions).
ON_DEMAND = ["argparse", "shutil", "tempfile", "pathlib", "mimetypes", "hashlib"]


def _loaded_after(statement: str, modules: list[str] = HEAVY) -> dict[str, bool]:
    probe = f"import sys; {statement}; print(__import__('json').dumps({{m: m in sys.modules for m in {modules!r}}}))"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KNFLOW_")}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env)
    return dict(json.loads(done.stdout))


def test_the_server_imports_nothing_heavy() -> None:
    assert _loaded_after("import knflow_runtime.lifecycle") == dict.fromkeys(HEAVY, False)


def test_a_start_configured_by_variables_loads_only_what_it_uses(tmp_path: Path) -> None:
    (tmp_path / "plain_action.py").write_text("def run(x: int) -> int:\n    return x\n")
    statement = (
        "import knflow_runtime.lifecycle as lifecycle, knflow_runtime.loader as loader; "
        f"settings = lifecycle.Settings.load([], {{'KNFLOW_ACTION': 'plain_action:run', 'PORT': '0'}}); "
        f"loader.load_action(settings.action, {str(tmp_path)!r})"
    )
    assert _loaded_after(statement, ON_DEMAND) == dict.fromkeys(ON_DEMAND, False)
    with_options = "import knflow_runtime.settings as s; s.Settings.load(['--action', 'm:f'], {})"
    assert _loaded_after(with_options, ["argparse"]) == {"argparse": True}  # the probe sees an import


def test_the_control_plane_can_import_the_contract_without_the_server() -> None:
    probe = (
        "import sys, knflow_runtime.contract; print('knflow_runtime.http' in sys.modules, 'httptools' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]
