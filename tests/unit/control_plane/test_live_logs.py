"""``LiveLogs``: output of running attempts, kept by offset, for the attempt's token only."""

from __future__ import annotations

import pytest

from knflow_control_plane.domain.records import Claim
from knflow_control_plane.service.live_logs import LiveLogs
from knflow_control_plane.service.reply_tokens import ReplyTokenInvalid, ReplyTokenMissing

SECRET = b"s" * 32


def claim(step: str = "tick", number: int = 1) -> Claim:
    return Claim(f"r1/{step}/{number}", "r1", step, number, "tick", "v1", {}, deadline=4_000_000_000.0)


def test_pieces_are_kept_by_offset_and_a_repeat_adds_nothing() -> None:
    live = LiveLogs("http://cp:8080/", SECRET)
    address = live.address(claim())
    assert address["url"] == "http://cp:8080/v1/runs/r1/steps/tick/attempts/1/live"
    bearer = f"Bearer {address['token']}"

    assert live.receive("r1", "r1/tick/1", bearer, 0, "line 0\n") == 7
    assert live.receive("r1", "r1/tick/1", bearer, 0, "line 0\n") == 7  # sent again: nothing new
    assert live.receive("r1", "r1/tick/1", bearer, 5, "0\nline 1\n") == 14  # overlapping: only the new part
    assert live.text("r1/tick/1") == "line 0\nline 1\n"
    assert live.of_run("r1") == {"r1/tick/1": "line 0\nline 1\n"}

    live.finished(claim())
    assert live.text("r1/tick/1") is None


def test_only_the_attempts_own_token_is_taken() -> None:
    live = LiveLogs("http://cp:8080", SECRET)
    other = live.address(claim(number=2))["token"]
    with pytest.raises(ReplyTokenMissing):
        live.receive("r1", "r1/tick/1", None, 0, "x")
    with pytest.raises(ReplyTokenInvalid):
        live.receive("r1", "r1/tick/1", f"Bearer {other}", 0, "x")
    assert live.text("r1/tick/1") is None
