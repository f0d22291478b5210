"""Files from the CLI: `knflow run -f`, `knflow files`, `knflow download`, as a user would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.control_plane.processes import ControlPlane

INVERT = bytes(range(255, -1, -1))


def test_run_with_a_file_list_its_files_and_download_the_result(
    files_plane: ControlPlane, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # the table at full width
    source = tmp_path / "photo.raw"
    source.write_bytes(bytes(range(256)) * 100)
    ran = files_plane.cli("run", "invert_upload", "-f", f"data={source}", "--json")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    run = json.loads(ran.stdout)
    inverted = run["result"]["inverted"]["knflow.file"]
    assert inverted["name"] == "inverted-photo.raw" and inverted["size"] == 25600

    listed = files_plane.cli("files", run["id"], "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {(f["step"], f["name"]) for f in json.loads(listed.stdout)["files"]}
    assert rows == {(None, "photo.raw"), ("invert", "inverted-photo.raw")}
    table = files_plane.cli("files", run["id"])
    assert "inverted-photo.raw" in table.stdout and "25.0 KiB" in table.stdout and "upload" in table.stdout

    out = tmp_path / "out.raw"
    got = files_plane.cli("download", run["id"], inverted["key"], "-o", str(out))
    assert got.returncode == 0, got.stderr
    assert out.read_bytes() == source.read_bytes().translate(INVERT)

    missing = files_plane.cli("download", run["id"], "uploads/none/x.bin", "-o", str(tmp_path / "x"))
    assert missing.returncode == 2 and "no file 'uploads/none/x.bin'" in missing.stderr
    bad = files_plane.cli("run", "invert_upload", "-f", f"data={tmp_path / 'nope'}")
    assert bad.returncode == 2 and "is not a file" in bad.stderr
