"""Object keys are POSIX-like relative paths, the same rules for every adapter."""

from __future__ import annotations

import pytest

from knflow_control_plane.entrypoints.statuses import status_of
from knflow_control_plane.errors import InvalidRequest
from knflow_control_plane.ports.objects import MAX_KEY_BYTES, InvalidKey, validate_key, validate_prefix


@pytest.mark.parametrize(
    "key",
    ["a", "runs/r1/step/out.png", "with space/é/ünïcode.txt", "a.b/c..d/...e", "x" * MAX_KEY_BYTES, "a-b_c=d+e"],
)
def test_valid_keys(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("", "empty"),
        ("/etc/passwd", "absolute"),
        ("..", "'..'"),
        ("a/../../b", "'..'"),
        ("./a", "'.'"),
        ("a//b", "empty"),
        ("a/", "empty"),
        ("a\\b", "backslash"),
        ("a\nb", "control"),
        ("a\x7fb", "control"),
        ("\ud800", "Unicode"),
        ("é" * 513, "1024 bytes"),
    ],
)
def test_invalid_keys(key: str, reason: str) -> None:
    with pytest.raises(InvalidKey, match=reason) as caught:
        validate_key(key)
    error = caught.value
    assert isinstance(error, InvalidRequest)
    assert isinstance(error, ValueError)
    assert status_of(error) == 422
    assert error.fields["field"] == "key"


def test_prefixes() -> None:
    assert validate_prefix("") == ""
    assert validate_prefix("runs/") == "runs/"
    assert validate_prefix("runs/r") == "runs/r"
    for bad in ("/runs/", "runs//", "../", "a/../"):
        with pytest.raises(InvalidKey):
            validate_prefix(bad)
    with pytest.raises(InvalidKey, match="every object"):
        validate_prefix("", allow_empty=False)
