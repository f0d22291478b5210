"""Files and payload references in run values, key layout, and which outputs get upload URLs (no I/O)."""

from __future__ import annotations

from typing import Any

import pytest

from knflow import File
from knflow._types import schema_of
from knflow_control_plane.domain.files import (
    PAYLOAD_MARKER,
    attempt_prefix,
    file_refs,
    may_hold_files,
    named_slots,
    payload_key,
    payload_keys,
    replace_refs,
    segment,
    upload_key,
)


def ref(key: str) -> dict[str, Any]:
    return {"knflow.file": {"key": key, "name": key}}


def test_file_references_are_found_anywhere_with_their_path() -> None:
    value = {"image": ref("a"), "more": [ref("b"), {"deep": ref("c")}], "n": 3, "fake": {"knflow.file": 1, "x": 2}}
    assert [(path, r["key"]) for path, r in file_refs(value)] == [
        ("image", "a"),
        ("more[0]", "b"),
        ("more[1].deep", "c"),
    ]


def test_payload_references_are_replaced_in_place() -> None:
    marker = {PAYLOAD_MARKER: {"key": "payloads/r/s/1/outputs/x.json", "size": 9}}
    value = {"x": marker, "y": [marker, 1]}
    assert payload_keys(value) == ["payloads/r/s/1/outputs/x.json"] * 2
    assert replace_refs(value, lambda r: r["size"], PAYLOAD_MARKER) == {"x": 9, "y": [9, 1]}


def test_keys_are_valid_relative_paths_whatever_the_names() -> None:
    assert attempt_prefix("r1", "resize", 2) == "runs/r1/resize/2/"
    assert payload_key("r1", "s", "1", "outputs", "big/../x") == "payloads/r1/s/1/outputs/big_.._x.json"
    assert upload_key("u", "../../etc/passwd") == "uploads/u/etc_passwd"
    assert segment("", "file") == "file" and segment("..", "file") == "file"
    assert segment("ok-name_1.png", "file") == "ok-name_1.png"


@pytest.mark.parametrize(
    ("annotation", "may"),
    [
        (File, True),
        (dict, True),
        (list, True),
        (Any, True),
        (dict[str, File], True),
        (list[File] | None, True),
        (int, False),
        (str, False),
        (dict[str, int], False),
        (list[str], False),
        (None, False),
    ],
)
def test_which_outputs_may_hold_files(annotation: Any, may: bool) -> None:
    assert may_hold_files(schema_of(annotation)) is may


def test_named_upload_slots() -> None:
    assert named_slots(schema_of(File), None) == ["result"]
    assert named_slots(schema_of(dict), ["thumb", "meta"]) == ["thumb", "meta"]
    assert named_slots(schema_of(dict), None) == []  # spare slots only
    assert named_slots(schema_of(int), ["n"]) == []
