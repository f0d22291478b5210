"""Running actions in-process: error mapping, outputs, deadlines and the concurrency slots they hold."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from pydantic import BaseModel

from knflow import ActionError, File, InputValidationError, action, wire
from knflow_runtime import capture
from knflow_runtime.app import App
from knflow_runtime.contract import Invocation, decode_result, encode_invoke
from knflow_runtime.errors import DeadlineError, OutputError
from knflow_runtime.http import Request
from knflow_runtime.invoke import Invoker, as_outputs, encode_reply, error_info, type_name
from knflow_runtime.reply import Replier


class CustomError(Exception):
    class InnerError(Exception):
        pass


def _invocation(within: float = 10.0, **extra: Any) -> Invocation:
    deadline = (datetime.now(UTC) + timedelta(seconds=within)).isoformat()
    data = cast("wire.InvokeData", {"inputs": {}, "deadline": deadline, **extra})
    return Invocation("r", "s", 1, f"r/s/{time.monotonic_ns()}", data, None)


@contextmanager
def routed() -> Iterator[capture.Capture]:
    # Inside the test body: pytest puts its own sys.stdout back between the phases of a test.
    installed = capture.install("INFO")
    try:
        yield installed
    finally:
        installed.uninstall()


def _raise(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


def test_error_mapping() -> None:
    assert error_info(ActionError(404, "no such user")) == {
        "type": "ActionError",
        "message": "no such user",
        "code": 404,
        "retryable": False,
        "traceback": error_info(ActionError(404, "no such user"))["traceback"],
    }
    invalid = error_info(_raise(InputValidationError("too big", field="width")))
    assert (invalid["type"], invalid["code"], invalid["retryable"]) == ("InputValidationError", 400, False)
    assert invalid["message"] == "input 'width': too big"
    deadline = error_info(DeadlineError("late"))
    assert deadline == {"type": "TimeoutError", "message": "late", "code": None, "retryable": True, "traceback": None}
    output = error_info(OutputError("bad", output="x"))
    assert (output["type"], output["retryable"], output["message"]) == ("OutputError", False, "output 'x': bad")
    generic = error_info(_raise(ValueError("bad value")))
    assert (generic["type"], generic["message"], generic["code"], generic["retryable"]) == (
        "ValueError",
        "bad value",
        None,
        True,
    )
    assert generic["traceback"] is not None
    assert generic["traceback"].rstrip().endswith("ValueError: bad value")
    assert error_info(KeyError())["message"] == "KeyError"


def test_type_names_are_qualified_unless_builtin() -> None:
    assert type_name(ValueError) == "ValueError"
    assert type_name(CustomError) == f"{__name__}.CustomError"
    assert type_name(CustomError.InnerError) == f"{__name__}.CustomError.InnerError"
    assert type_name(asyncio.CancelledError) == "asyncio.exceptions.CancelledError"


def test_outputs_from_return_values() -> None:
    assert as_outputs({"a": 1}) == {"a": 1}
    assert as_outputs(3) == {"result": 3}
    assert as_outputs(None) == {"result": None}
    with pytest.raises(OutputError, match="output '1': output names must be strings"):
        as_outputs({1: "x"})


class Point(BaseModel):
    x: int
    y: int


def test_encode_reply_dumps_pydantic_models_and_names_unsendable_outputs() -> None:
    invocation = _invocation()
    headers, body = encode_reply(invocation, {"outputs": {"p": [Point(x=1, y=2)]}, "logs": ""}, "a")
    assert decode_result(headers, body)[1] == {"outputs": {"p": [{"x": 1, "y": 2}]}, "logs": ""}

    headers, body = encode_reply(invocation, {"outputs": {"ok": 1, "bad": object()}, "logs": "kept"}, "a")
    event_type, data, _ = decode_result(headers, body)
    failed = cast("wire.FailedData", data)
    assert event_type == wire.FAILED
    assert failed["error"]["type"] == "OutputError"
    assert failed["error"]["message"].startswith("output 'bad': not JSON-serialisable")
    assert failed["logs"] == "kept"


async def test_traceback_starts_at_the_users_code() -> None:
    @action
    def broken() -> None:
        raise CustomError("deep")

    result = await Invoker(broken, concurrency=1, max_logs=100).invoke(_invocation(), {})
    trace = cast("wire.FailedData", result)["error"]["traceback"]
    assert trace is not None
    frames = [line for line in trace.splitlines() if line.startswith('  File "')]
    assert frames[0].startswith(f'  File "{__file__}"')
    assert "knflow_runtime" not in trace


async def test_sync_action_past_its_deadline_keeps_its_slot_until_the_thread_ends() -> None:
    @action
    def nap(seconds: float) -> float:
        time.sleep(seconds)
        return seconds

    invoker = Invoker(nap, concurrency=1, max_logs=100)
    started = time.monotonic()
    late = await invoker.invoke(_invocation(within=0.15), {"seconds": 0.6})
    replied = time.monotonic() - started
    assert cast("wire.FailedData", late)["error"]["type"] == "TimeoutError"
    assert replied < 0.45
    assert invoker.threads_busy == 1

    quick = await invoker.invoke(_invocation(), {"seconds": 0.0})
    assert cast("wire.SucceededData", quick)["outputs"] == {"result": 0.0}
    assert time.monotonic() - started >= 0.55  # it waited for the abandoned thread's slot
    assert invoker.threads_busy == 0
    invoker.close()


async def test_async_action_past_its_deadline_is_cancelled() -> None:
    cancelled = asyncio.Event()

    @action
    async def hang() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    result = await Invoker(hang, concurrency=1, max_logs=100).invoke(_invocation(within=0.1), {})
    assert cast("wire.FailedData", result)["error"]["type"] == "TimeoutError"
    assert cancelled.is_set()


async def test_the_actions_own_timeout_bounds_a_later_deadline() -> None:
    @action(timeout="100ms")
    async def slow() -> None:
        await asyncio.sleep(5)

    started = time.monotonic()
    result = await Invoker(slow, concurrency=1, max_logs=100).invoke(_invocation(within=60), {})
    assert cast("wire.FailedData", result)["error"]["type"] == "TimeoutError"
    assert "timeout 0.1s" in cast("wire.FailedData", result)["error"]["message"]
    assert time.monotonic() - started < 1.0


async def test_a_timeout_error_of_the_users_own_is_not_the_deadline() -> None:
    @action
    async def own() -> None:
        raise TimeoutError("the user's own")

    result = await Invoker(own, concurrency=1, max_logs=100).invoke(_invocation(), {})
    error = cast("wire.FailedData", result)["error"]
    assert (error["type"], error["message"]) == ("TimeoutError", "the user's own")
    assert error["traceback"] is not None


async def test_sys_exit_in_an_action_fails_the_step_not_the_process() -> None:
    @action
    def leave() -> None:
        print("bye")
        sys.exit(3)

    with routed():
        result = await Invoker(leave, concurrency=1, max_logs=100).invoke(_invocation(), {})
    failed = cast("wire.FailedData", result)
    assert (failed["error"]["type"], failed["error"]["message"]) == ("SystemExit", "3")
    assert failed["logs"] == "bye\n"


async def test_a_new_file_output_needs_an_upload_slot() -> None:
    @action
    def make() -> dict[str, Any]:
        return {"made": File.from_bytes(b"x", name="x.txt"), "kept": File(key="runs/1/old", name="old.txt")}

    result = await Invoker(make, concurrency=1, max_logs=100).invoke(_invocation(), {})
    error = cast("wire.FailedData", result)["error"]
    assert error["type"] == "OutputError"
    assert error["message"].startswith("output 'made': a new File needs an upload slot")


class Opaque:
    """pydantic has no schema for an arbitrary class: the SDK's validator raises on it."""


async def test_a_signature_the_sdk_cannot_check_is_a_400_not_a_crash() -> None:
    @action
    def many(files: Opaque) -> int:
        return 1

    app = App(many, Invoker(many, concurrency=1, max_logs=100), Replier())
    data = cast("wire.InvokeData", {"inputs": {"files": {}}, "deadline": "2030-01-01T00:00:00Z"})
    headers, body = encode_invoke("r", "s", 1, data)
    response = await app(Request("POST", "/", headers, body))
    assert response.status == 400
    assert b"inputs cannot be validated" in response.body
