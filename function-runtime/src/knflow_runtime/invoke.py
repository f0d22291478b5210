"""Running the action for one invocation: concurrency slots, the deadline, files, logs, errors.

Sync actions run in worker threads with the invocation's context copied in (so their logs are routed
to it); async ones run on the event loop. Whatever happens, an invocation ends as a result: the
outputs, or an error in the shape of :class:`knflow.wire.ErrorInfo`.
"""

from __future__ import annotations

import asyncio
import os
import sys
import traceback
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from knflow import ActionDefinition, ActionError, InputValidationError
from knflow.wire import ErrorInfo

from . import capture, files
from .contract import Headers, Invocation, Result, encode_result
from .errors import DeadlineError, OutputError
from .live import LiveOutput
from .workers import Workers

if TYPE_CHECKING:
    from .tracing import HandlerTracing

# Leading traceback frames from these directories are the runtime's plumbing, not the user's code.
_PLUMBING = (os.path.dirname(__file__) + os.sep, os.path.dirname(asyncio.__file__) + os.sep)


class _Lease:
    """An invocation's concurrency slot and temporary directory, given back exactly once."""

    def __init__(self, slots: asyncio.Semaphore, workdir: files.Workdir):
        self.slots, self.workdir = slots, workdir
        self.held = False
        self.abandoned = False

    def release(self) -> None:
        self.slots.release()
        self.workdir.remove()

    def hand_over(self, future: asyncio.Future[Any]) -> None:
        """Let a thread the invocation gave up on release the lease when it really ends."""
        self.abandoned = True
        future.add_done_callback(self._thread_ended)

    def _thread_ended(self, future: asyncio.Future[Any]) -> None:
        # Runs on the loop. Fetching the late exception keeps asyncio from reporting it as never retrieved.
        if not future.cancelled():
            future.exception()
        self.release()


class Invoker:
    """Runs one action for decoded invocations.

    Args:
        action: the action served.
        concurrency: invocations run at once; more wait for a slot (until their deadline).
        max_logs: the most log characters kept per invocation.
        tracing: makes a span of each invocation; None when tracing is off.
    """

    def __init__(
        self,
        action: ActionDefinition[..., Any],
        *,
        concurrency: int,
        max_logs: int,
        tracing: HandlerTracing | None = None,
    ):
        self.action = action
        self.tracing = tracing
        self.concurrency = concurrency
        self._max_logs = max_logs
        self._slots = asyncio.Semaphore(concurrency)
        self._workers = Workers(concurrency)

    @property
    def threads_busy(self) -> int:
        """Sync calls not returned yet, including those that outlived their deadline."""
        return self._workers.busy

    def close(self) -> None:
        """Let the worker threads end (one still in a call past its deadline ends with the process)."""
        self._workers.close()

    async def invoke(self, invocation: Invocation, inputs: dict[str, Any]) -> Result:
        """Run the action with ``inputs`` (already validated) and capture its logs.

        Args:
            invocation: the decoded event (deadline, files, uploads).
            inputs: the inputs as checked by ``ActionDefinition.validate_inputs``.
        """
        if self.tracing is not None:
            return await self.tracing.traced(invocation, partial(self._invoke, invocation, inputs))
        return await self._invoke(invocation, inputs)

    async def _invoke(self, invocation: Invocation, inputs: dict[str, Any]) -> Result:
        with capture.capturing(self._max_logs) as logs:
            target = invocation.data.get("live")
            live = LiveOutput(target, logs) if target is not None else None
            try:
                outputs = await self._run(invocation, inputs)
            except (Exception, SystemExit) as exc:  # noqa: BLE001  (every failure of user code is a result)
                return {"error": error_info(exc), "logs": logs.text()}
            finally:
                if live is not None:
                    live.close()
            return {"outputs": outputs, "logs": logs.text()}

    async def _run(self, invocation: Invocation, inputs: dict[str, Any]) -> dict[str, Any]:
        timeout = self.action.options.timeout
        budget = min((invocation.deadline - datetime.now(UTC)).total_seconds(), timeout)
        if budget <= 0:
            raise DeadlineError(f"the deadline {invocation.data['deadline']} had passed when the invocation arrived")
        lease = _Lease(self._slots, files.Workdir())
        # One timeout scope for every stage: a timer per stage would cost more than a no-op action.
        scope = asyncio.timeout(budget)
        try:
            async with scope:
                await self._slots.acquire()
                lease.held = True
                gets = invocation.data.get("files")
                kwargs = await files.fetch_inputs(inputs, gets, lease.workdir, budget) if gets else inputs
                if self.action.is_async:
                    result = await self.action.fn(**kwargs)
                else:
                    result = await self._in_thread(kwargs, lease)
                check_output(self.action, result)
                uploads = invocation.data.get("uploads", {})
                spare = invocation.data.get("spare", [])
                return await files.store_outputs(as_outputs(result), uploads, budget, spare)
        except TimeoutError:
            if not scope.expired():
                raise  # the action's own TimeoutError
            where = "running" if lease.held else f"waiting for one of {self.concurrency} slots"
            raise DeadlineError(
                f"deadline exceeded after {budget:.3f}s {where} "
                f"(deadline {invocation.data['deadline']}, timeout {timeout:g}s)"
            ) from None
        finally:
            if lease.held and not lease.abandoned:
                lease.release()

    async def _in_thread(self, kwargs: dict[str, Any], lease: _Lease) -> Any:
        # The context is copied into the thread: the log capture of this invocation follows the call.
        future = self._workers.submit(self.action.fn, kwargs)
        try:
            # Shielded: the deadline cancels this wait, never the future the thread will complete.
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            if not future.done():
                # A thread cannot be killed: the reply goes out now, but the thread keeps its concurrency
                # slot (and its files) until it really returns, so the limit stays true to the threads.
                lease.hand_over(future)
            raise


def check_output(action: ActionDefinition[..., Any], result: Any) -> None:
    """Check a return value against the action's return annotation.

    Raises:
        OutputError: naming the output (a key of the returned dict, ``result`` otherwise, dotted into a
            model's fields) that does not fit.
    """
    try:
        action.validate_output(result)
    except InputValidationError as exc:
        field = exc.field
        if isinstance(result, dict) and field.startswith("result."):
            field = field.removeprefix("result.")  # the outputs are the dict's keys
        reason = str(exc).removeprefix(f"input {exc.field!r}: ")
        raise OutputError(f"does not match the return annotation: {reason}", output=field) from None


def as_outputs(result: Any) -> dict[str, Any]:
    """The outputs an action's return value stands for: a dict as is, anything else as ``result``.

    Raises:
        OutputError: when a dict has a name that is not a string.
    """
    if isinstance(result, dict):
        for name in result:
            if not isinstance(name, str):
                raise OutputError("output names must be strings", output=repr(name))
        return result
    return {"result": result}


def error_info(exc: BaseException) -> ErrorInfo:
    """How a failure is reported in a ``step.failed`` event.

    ``ActionError`` keeps its code and is final; an ``InputValidationError`` raised inside the action is
    a 400 and final; the deadline is a retryable ``TimeoutError``; an unsendable output is final; any
    other exception is retryable and named by its class (qualified unless a builtin).
    """
    if isinstance(exc, ActionError):
        return _info("ActionError", exc.message, exc.code, False, _traceback(exc))
    if isinstance(exc, InputValidationError):
        return _info("InputValidationError", str(exc), 400, False, _traceback(exc))
    if isinstance(exc, DeadlineError):
        return _info("TimeoutError", str(exc), None, True, None)
    if isinstance(exc, OutputError):
        return _info("OutputError", str(exc), None, False, None)
    return _info(type_name(type(exc)), str(exc) or type(exc).__name__, None, True, _traceback(exc))


def _info(kind: str, message: str, code: int | None, retryable: bool, trace: str | None) -> ErrorInfo:
    return {"type": kind, "message": message, "code": code, "retryable": retryable, "traceback": trace}


def type_name(cls: type) -> str:
    """``ValueError`` for builtins, ``module.Class`` otherwise."""
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def _traceback(exc: BaseException) -> str:
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_PLUMBING):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def encode_reply(invocation: Invocation, result: Result, action_name: str) -> tuple[Headers, bytes]:
    """The result event of an invocation; outputs that are not JSON turn it into a ``step.failed``.

    Checking while encoding keeps the usual case to one pass over the outputs. Pydantic models among
    the outputs are dumped to JSON form (pydantic is only looked at when the user's code loaded it).
    """
    try:
        return encode_result(invocation, result, action_name)
    except (TypeError, ValueError) as exc:
        if "error" in result:
            raise  # an error result is built from strings: this is a bug of the runtime, not of the action
        failure = exc
    logs = result["logs"]
    outputs = {name: _plain(value) for name, value in result["outputs"].items()}
    try:
        return encode_result(invocation, {"outputs": outputs, "logs": logs}, action_name)
    except (TypeError, ValueError):
        pass
    error = OutputError(f"not JSON-serialisable: {failure}", output=_culprit(invocation, outputs, action_name))
    return encode_result(invocation, {"error": error_info(error), "logs": logs}, action_name)


def _plain(value: Any) -> Any:
    pydantic = sys.modules.get("pydantic")
    if pydantic is not None and isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _culprit(invocation: Invocation, outputs: dict[str, Any], action_name: str) -> str:
    for name, value in outputs.items():
        try:
            encode_result(invocation, {"outputs": {name: value}, "logs": ""}, action_name)
        except (TypeError, ValueError):
            return name
    return "?"
