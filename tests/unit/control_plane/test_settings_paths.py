"""Every path in the settings is absolute once read: functions run in other folders, builds are stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from knflow_control_plane.ports import Artifact
from knflow_control_plane.service.functions import usable
from knflow_control_plane.settings import Settings, absolute_sqlite_url


def test_the_defaults_are_resolved_against_the_folder_it_starts_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.state_dir == tmp_path / ".knflow"
    assert settings.resolved_database_url == f"sqlite:///{tmp_path}/.knflow/knflow.db"
    assert settings.resolved_object_store == str(tmp_path / ".knflow" / "objects")


def test_given_relative_paths_and_variables_are_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KNFLOW_OBJECT_STORE", "files")
    monkeypatch.setenv("KNFLOW_KUBE_TOKEN_FILE", "secrets/token")
    settings = Settings(state_dir=Path("state/../here"), database_url="sqlite:///db/k.db")
    assert settings.state_dir == tmp_path / "here"
    assert settings.database_url == f"sqlite:///{tmp_path}/db/k.db"
    assert settings.object_store == str(tmp_path / "files")
    assert settings.kube_token_file == tmp_path / "secrets" / "token"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://knflow@db:5432/knflow",
        "postgresql+asyncpg://knflow@db/knflow?ssl=require",
        "sqlite:////var/lib/knflow/knflow.db",
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite:///file:shared?mode=memory&uri=true",
    ],
)
def test_urls_that_name_no_relative_file_are_kept(url: str) -> None:
    assert absolute_sqlite_url(url) == url


def test_a_relative_sqlite_file_keeps_its_driver_and_query(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert absolute_sqlite_url("sqlite+aiosqlite:///x.db?timeout=5") == f"sqlite+aiosqlite:///{tmp_path}/x.db?timeout=5"


def test_an_s3_object_store_is_not_a_path() -> None:
    assert Settings(object_store="s3://bucket/prefix").object_store == "s3://bucket/prefix"


def test_a_stored_build_with_a_relative_or_missing_path_is_built_again(tmp_path: Path) -> None:
    python = "/usr/bin/python3"
    assert usable(Artifact("venv", python, str(tmp_path)))
    assert usable(Artifact("image", "registry:5000/a@sha256:00", None))
    assert not usable(Artifact("venv", python, ".knflow/builds/code/abc"))  # what the old default stored
    assert not usable(Artifact("venv", python, str(tmp_path / "gone")))
    assert not usable(Artifact("venv", ".knflow/builds/venvs/x/bin/python", str(tmp_path)))
