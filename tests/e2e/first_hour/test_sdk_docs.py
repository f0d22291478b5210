"""docs/sdk.md, run: its YAML workflow deployed next to the README's ``counting.py`` and triggered, the
constant it explains refused as it says, and its actions block imported and called as it says."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import httpx
import pytest

from knflow import SpecError

from .markdown import blocks
from .newcomer import ROOT, Dev, free_port, shell

SDK_MD = ROOT / "docs" / "sdk.md"


def _block(lang: str, containing: str) -> str:
    return next(b.text for b in blocks(SDK_MD) if b.lang == lang and containing in b.text)


def test_the_yaml_workflow_deploys_beside_the_readme_code_and_answers(tmp_path: Path) -> None:
    readme_code = next(b.text for b in blocks(ROOT / "README.md") if b.lang == "python")
    spec = _block("yaml", "name: counting")
    folder = tmp_path / "yaml"
    folder.mkdir()
    (folder / "counting.py").write_text(readme_code)
    (folder / "counting.yaml").write_text(spec)
    limited = spec.replace("name: counting", "name: limited").replace("path: /count,", "path: /limited,")
    upstream = "words: {step: extract, output: words}"
    limited = limited.replace(upstream, f"{upstream}\n      limit: 10", 1)  # the constant the doc explains
    (folder / "limited.yaml").write_text(limited)
    dev = Dev(folder, free_port()).start()
    try:
        deployed = shell(f"knflow deploy counting.yaml --url {dev.url}", folder)
        assert deployed.returncode == 0 and "counting" in deployed.stdout and "ready" in deployed.stdout
        reply = httpx.post(f"{dev.url}/hooks/count", json={"text": "to be or not to be"}, timeout=60)
        assert reply.status_code == 200 and reply.json() == 6, reply.text
        refused = shell(f"knflow deploy limited.yaml --url {dev.url}", folder)
    finally:
        dev.stop()
    claimed = re.search(r"naming it\s+\(`([^`]+)`\)", SDK_MD.read_text())
    assert claimed is not None and refused.returncode == 2
    assert refused.stderr.strip() == f"error: {claimed.group(1)}"


def test_the_actions_block_decorates_and_a_call_outside_a_workflow_runs_it(tmp_path: Path) -> None:
    path = tmp_path / "actions_doc.py"
    path.write_text(_block("python", "def add(a: int, b: int)"))
    spec = importlib.util.spec_from_file_location("actions_doc", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.add(2, 3) == 5  # "Calling an action outside a workflow runs the function"
    assert module.resize.options.timeout == 60 and module.resize.options.retries == 3  # checked and kept
    assert "a wrong option (`memroy=`)" in SDK_MD.read_text()
    with pytest.raises(SpecError, match="memroy"):
        exec(compile("from knflow import action\n@action(memroy='1Gi')\ndef f() -> None: ...", "doc", "exec"), {})
