"""A failing loop logs once when the outage starts and once when it ends, and backs off with jitter."""

from __future__ import annotations

import logging

import pytest

from knflow_control_plane.errors import StoreUnavailable
from knflow_control_plane.service.health import Outage


def test_one_line_per_change_of_state_and_a_growing_jittered_capped_delay(caplog: pytest.LogCaptureFixture) -> None:
    draws = iter([0.0, 1.0] * 50)
    outage = Outage("polling", logging.getLogger("test.outage"), base=0.1, cap=1.0, rng=lambda: next(draws))
    with caplog.at_level(logging.WARNING, logger="test.outage"):
        delays = [outage.failed(StoreUnavailable("down")) for _ in range(8)]
        outage.succeeded()
        outage.succeeded()
    assert delays[:4] == pytest.approx([0.05, 0.2, 0.2, 0.8])  # half the delay, plus up to as much again
    assert max(delays) <= 1.0 and delays[-1] == pytest.approx(1.0)
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2, messages
    assert "polling failed: down" in messages[0] and "after" in messages[1] and "8 failed attempts" in messages[1]
    assert not outage.down and outage.failures == 0
