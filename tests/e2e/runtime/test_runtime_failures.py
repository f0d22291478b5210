"""How failures of actions come back: error mapping, tracebacks, deadlines, unsendable outputs."""

from __future__ import annotations

import time

import httpx
import pytest
from tests.e2e.runtime.runtime_support import invoke

from knflow.wire import FAILED, SUCCEEDED

BOTH = pytest.mark.parametrize("kind", ["sync", "async"])


def _url(kind: str, sync_url: str, async_url: str) -> str:
    return sync_url if kind == "sync" else async_url


@BOTH
async def test_action_error_keeps_its_code_and_is_final(
    client: httpx.AsyncClient, sync_url: str, async_url: str, kind: str
) -> None:
    event_type, data = await invoke(client, _url(kind, sync_url, async_url), {"op": "fail", "code": 404})
    assert event_type == FAILED
    error = data["error"]
    assert error["type"] == "ActionError"
    assert error["code"] == 404
    assert error["message"] == "failed on purpose with 404"
    assert error["retryable"] is False


@BOTH
async def test_other_exceptions_are_retryable_with_type_and_traceback(
    client: httpx.AsyncClient, sync_url: str, async_url: str, kind: str
) -> None:
    event_type, data = await invoke(client, _url(kind, sync_url, async_url), {"op": "boom", "tag": kind})
    assert event_type == FAILED
    error = data["error"]
    assert error["type"] == "actions_fixture.FixtureError"
    assert error["message"] == f"boom {kind}"
    assert error["code"] is None
    assert error["retryable"] is True
    trace = error["traceback"]
    assert trace.startswith("Traceback (most recent call last):\n")
    assert 'actions_fixture.py", line' in trace
    assert 'raise FixtureError(f"boom {tag}")' in trace
    assert trace.rstrip().endswith(f"actions_fixture.FixtureError: boom {kind}")
    # The runtime's own frames (thread pool, event loop) are trimmed away.
    assert "knflow_runtime" not in trace
    assert "concurrent/futures" not in trace


async def test_input_validation_error_raised_inside_is_a_final_400(client: httpx.AsyncClient, sync_url: str) -> None:
    _, data = await invoke(client, sync_url, {"op": "invalid"})
    error = data["error"]
    assert (error["type"], error["code"], error["retryable"]) == ("InputValidationError", 400, False)
    assert "amount" in error["message"]


@BOTH
async def test_deadline_exceeded_replies_at_the_deadline(
    client: httpx.AsyncClient, sync_url: str, async_url: str, kind: str
) -> None:
    started = time.monotonic()
    event_type, data = await invoke(
        client, _url(kind, sync_url, async_url), {"op": "sleep", "seconds": 3.0}, within=0.5
    )
    elapsed = time.monotonic() - started
    assert event_type == FAILED
    error = data["error"]
    assert error["type"] == "TimeoutError"
    assert error["retryable"] is True
    assert "deadline exceeded" in error["message"]
    assert 0.4 < elapsed < 2.0


async def test_deadline_already_passed_does_not_run(client: httpx.AsyncClient, sync_url: str) -> None:
    _, data = await invoke(client, sync_url, {"op": "sleep"}, within=-1.0)
    error = data["error"]
    assert error["type"] == "TimeoutError"
    assert "had passed" in error["message"]


async def test_output_that_is_not_json_fails_naming_it(client: httpx.AsyncClient, async_url: str) -> None:
    event_type, data = await invoke(client, async_url, {"op": "unjson"})
    assert event_type == FAILED
    error = data["error"]
    assert error["type"] == "OutputError"
    assert error["message"].startswith("output 'bad': not JSON-serialisable")
    assert error["retryable"] is False


async def test_non_dict_return_is_the_result_output(client: httpx.AsyncClient, sync_url: str) -> None:
    event_type, data = await invoke(client, sync_url, {"op": "scalar", "tag": "t"})
    assert event_type == SUCCEEDED
    assert data["outputs"] == {"result": ["t", 42]}
