"""Routes of a function: ``POST /`` (invoke), ``GET /health/liveness``, ``GET /health/readiness``.

Answers with contract errors (400 naming the field), idempotency on ``ce-id`` (a repeated invocation
gets the reply of the first; one in flight is awaited, never run twice), async reply mode (202, then
the result is POSTed to the callback) and readiness for draining.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from knflow import ActionDefinition, InputValidationError
from knflow.wire import HEALTH_LIVENESS, HEALTH_READINESS

from .contract import Invocation, decode_invoke
from .errors import MalformedEvent
from .http import Request, Response, json_response, problem
from .idempotency import Reply, ReplyCache
from .invoke import Invoker, encode_reply
from .reply import Replier

log = logging.getLogger("knflow_runtime.app")


class App:
    """The request handler of one function.

    Args:
        action: the action served.
        invoker: runs it.
        replier: delivers results in async reply mode.
        cache: replies of finished invocations by invoke id.
    """

    def __init__(
        self, action: ActionDefinition[..., Any], invoker: Invoker, replier: Replier, cache: ReplyCache | None = None
    ):
        self.action = action
        self.invoker = invoker
        self.replier = replier
        self.cache = cache if cache is not None else ReplyCache()
        self.ready = True
        self.inflight: dict[str, asyncio.Future[Reply]] = {}
        self._background: set[asyncio.Task[Reply]] = set()

    async def __call__(self, request: Request) -> Response:
        """Route one request."""
        path, method = request.path, request.method
        if path == "/":
            return await self.invoke(request) if method == "POST" else _not_allowed(method, "POST")
        if path == HEALTH_LIVENESS:
            return json_response(200, {"status": "alive"}) if method == "GET" else _not_allowed(method, "GET")
        if path == HEALTH_READINESS:
            if method != "GET":
                return _not_allowed(method, "GET")
            if self.ready:
                return json_response(200, {"status": "ready", "action": self.action.name})
            return json_response(503, {"status": "draining", "action": self.action.name})
        return problem(
            404, "not found", f"no route {path}; the routes are POST /, GET {HEALTH_LIVENESS}, GET {HEALTH_READINESS}"
        )

    def drain(self) -> None:
        """Stop taking invocations: readiness turns 503, and so do new invokes."""
        self.ready = False

    async def wait_idle(self, timeout: float) -> None:
        """Wait (at most ``timeout`` seconds) for the invocations in flight."""
        if self.inflight:
            await asyncio.wait(set(self.inflight.values()), timeout=timeout)

    async def invoke(self, request: Request) -> Response:
        """Decode, validate, deduplicate and run one invocation."""
        if not self.ready:
            return problem(503, "draining", "this function instance is shutting down; retry on another one")
        try:
            invocation = decode_invoke(request.headers, request.body)
        except MalformedEvent as exc:
            return problem(400, "malformed invoke event", str(exc), field=exc.field)
        reply_to = invocation.data.get("reply")
        known = self.cache.get(invocation.invoke_id)
        if known is not None:
            if reply_to is None:
                return _event(known)
            self.replier.send(reply_to, *known)  # the control plane asks again: it may have missed the first
            return _accepted(invocation)
        running = self.inflight.get(invocation.invoke_id)
        if running is not None:
            return _accepted(invocation) if reply_to is not None else _event(await asyncio.shield(running))
        try:
            inputs = self.action.validate_inputs(invocation.data["inputs"])
        except InputValidationError as exc:
            return problem(400, "invalid input", str(exc), field=exc.field)
        except Exception as exc:  # noqa: BLE001  (a signature the SDK cannot check fails every attempt alike: final)
            detail = f"the signature of {self.action.name} cannot check its inputs: {type(exc).__name__}: {exc}"
            return problem(400, "inputs cannot be validated", detail)
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self.inflight[invocation.invoke_id] = future
        if reply_to is not None:
            task = asyncio.get_running_loop().create_task(self._run(invocation, inputs, future))
            self._background.add(task)
            task.add_done_callback(self._forget)
            return _accepted(invocation)
        return _event(await self._run(invocation, inputs, future))

    async def _run(self, invocation: Invocation, inputs: dict[str, Any], future: asyncio.Future[Reply]) -> Reply:
        try:
            result = await self.invoker.invoke(invocation, inputs)
            reply = encode_reply(invocation, result, self.action.name)
        except BaseException as exc:
            del self.inflight[invocation.invoke_id]
            if isinstance(exc, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(exc)
                future.exception()  # waiters, if any, see it too; no waiter is no reason for a warning
            raise
        self.cache.put(invocation.invoke_id, reply)
        reply_to = invocation.data.get("reply")
        if reply_to is not None:
            self.replier.send(reply_to, *reply)  # before the future resolves, so a drain sees it pending
        del self.inflight[invocation.invoke_id]
        future.set_result(reply)
        return reply

    def _forget(self, task: asyncio.Task[Reply]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("async invocation failed in the runtime", exc_info=task.exception())


def _event(reply: Reply) -> Response:
    headers, body = reply
    return Response(200, headers, body)


def _accepted(invocation: Invocation) -> Response:
    return json_response(202, {"accepted": invocation.invoke_id})


def _not_allowed(method: str, allowed: str) -> Response:
    response = problem(405, "method not allowed", f"{method} is not allowed here; use {allowed}")
    return Response(405, {**response.headers, "allow": allowed}, response.body)
