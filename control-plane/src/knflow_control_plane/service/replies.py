"""Async reply mode, the control plane's side (DESIGN.md section 4): long attempts report by callback.

An attempt that may outlast the backend's request limit is invoked with ``"reply": {"url", "token"}``;
the function answers 202 at once and later POSTs its result event to the URL. Meanwhile no connection
is held: the invoking task waits on a future here.

The store is the source of truth, so a callback may land on any replica. The replica that receives it
checks the token, settles the result exactly as a synchronous reply (files checked and recorded, large
values offloaded) and records it with the store's ``complete``; a second report of the same attempt
changes nothing (409). The invoking replica learns of it from that same call when the callback lands
on it, or from the store (one query per interval for every attempt it waits for) when it landed on
another; its own ``complete`` of the outcome is then a no-op replay.

While waiting, the step's lease is held in the store until the attempt's deadline (plus grace and one
lease), instead of being renewed every few seconds: a control plane that restarts or is replaced does
not lose a long action, whose callback any replica can still record. An attempt whose function died
without calling back is recorded lost (and retried) when that lease runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol
from urllib.parse import quote

from knflow import wire
from knflow_runtime.contract import decode_result
from knflow_runtime.errors import MalformedEvent

from ..domain.model import Outcome
from ..domain.records import Claim, Transition, Worker
from ..errors import Conflict, ControlPlaneError, NotFound
from ..ports import Clock, HttpReply, ReplyStore, RunStore
from . import reply_tokens
from .health import Outage
from .outcomes import outcome_of

if TYPE_CHECKING:
    from .files import RunFiles

log = logging.getLogger("knflow.replies")


class AttemptFinished(Conflict):
    """Attempt already finished.

    Attributes:
        fields: ``attempt``, ``recorded`` (the attempt's status).
    """


class MalformedCallback(ControlPlaneError):
    """Malformed result event.

    Attributes:
        fields: ``field`` (the header or data field that is wrong).
    """


class Recorder(Protocol):
    """Who applies a recorded transition (the orchestrator: it starts what the transition claimed)."""

    def worker(self) -> Worker:
        """This replica as a claimant."""
        ...

    def apply(self, transition: Transition) -> None:
        """Start the transition's claims, wake its waiters, tell its listeners."""
        ...


@dataclass(frozen=True)
class ReplySettings:
    """When and how attempts use async reply mode.

    Attributes:
        base_url: how functions reach this control plane (``KNFLOW_PUBLIC_URL``).
        after: an attempt with more than this many seconds before its deadline is invoked in reply
            mode; None: never (a backend without a request limit).
        grace: seconds past an attempt's deadline its result is still waited for.
        lease: the orchestrator's lease, seconds: a held lease outlives the wait by this much.
        interval: seconds between looks at the store for results recorded by other replicas.
        token_slack: seconds a reply token stays valid past the wait (the runtime's delivery retries).
    """

    base_url: str
    after: float | None
    grace: float = 5.0
    lease: float = 15.0
    interval: float = 1.0
    token_slack: float = 60.0


@dataclass
class _Wait:
    claim: Claim
    future: asyncio.Future[Outcome]
    hold_until: float


class Replies:
    """Reply addresses for invocations, the waits for their results, and the callbacks that bring them.

    Args:
        store: reads and lease holds of reply mode.
        runs: the run store (``complete``).
        secret: the signing secret every replica shares (tokens minted here are checked anywhere).
        settings: thresholds and intervals.
        worker: this replica's name on leases.
        clock: time.
        files: settles file outputs and large values of results, as for synchronous replies.
    """

    def __init__(
        self,
        store: ReplyStore,
        runs: RunStore,
        secret: bytes,
        settings: ReplySettings,
        worker: str,
        clock: Clock,
        files: RunFiles | None = None,
    ):
        self.store, self.runs, self.settings = store, runs, settings
        self.worker, self.clock, self.files = worker, clock, files
        self._secret = secret
        self._waits: dict[str, _Wait] = {}
        self._loop: asyncio.Task[None] | None = None
        #: callbacks this replica recorded, and those refused as duplicates
        self.recorded = 0
        self.duplicates = 0

    @property
    def waiting(self) -> int:
        """Attempts of this replica waiting for their callback."""
        return len(self._waits)

    # -- invoking side ------------------------------------------------------------------------
    def wanted(self, claim: Claim) -> bool:
        """Whether ``claim`` is invoked in reply mode: its time left is over the request limit."""
        after = self.settings.after
        return after is not None and claim.deadline - self.clock.now().timestamp() > after

    def address(self, claim: Claim) -> wire.Reply:
        """The ``reply`` of ``claim``'s invoke event: its callback URL and a token for it alone."""
        expires = math.ceil(claim.deadline + self.settings.grace + self.settings.lease + self.settings.token_slack)
        path = "/".join(quote(part, safe="") for part in (claim.run_id, "steps", claim.step, "attempts"))
        url = f"{self.settings.base_url.rstrip('/')}/v1/runs/{path}/{claim.number}/reply"
        return {"url": url, "token": reply_tokens.mint(self._secret, claim.attempt_id, expires)}

    async def wait(self, claim: Claim) -> Outcome:
        """Wait for the callback of ``claim`` (answered 202); the outcome recorded for it.

        The outcome is already recorded when this returns (by the callback, here or on another
        replica, or by lease expiry or cancellation): recording it again is a harmless replay.

        Raises:
            TimeoutError: no result by the deadline and grace.
        """
        hold_until = claim.deadline + self.settings.grace + self.settings.lease
        wait = _Wait(claim, asyncio.get_running_loop().create_future(), hold_until)
        self._waits[claim.attempt_id] = wait
        try:
            with contextlib.suppress(ControlPlaneError):  # the watch loop holds it on its next round too
                await self.store.hold_leases(self.worker, [(claim.run_id, claim.step, hold_until)])
            left = claim.deadline + self.settings.grace - self.clock.now().timestamp()
            try:
                return await asyncio.wait_for(wait.future, max(0.0, left))
            except TimeoutError:
                raise TimeoutError(
                    f"no result from {claim.action} by its deadline: the function did not call back"
                ) from None
        finally:
            if self._waits.get(claim.attempt_id) is wait:
                del self._waits[claim.attempt_id]

    # -- callback side ------------------------------------------------------------------------
    async def receive(
        self, recorder: Recorder, attempt_id: str, authorization: str | None, headers: Mapping[str, str], body: bytes
    ) -> Outcome:
        """Record the result event a function posted for ``attempt_id``.

        Raises:
            ReplyTokenMissing: no bearer token (401).
            ReplyTokenInvalid: a forged, tampered, expired or other attempt's token (403).
            NotFound: no such attempt (404).
            AttemptFinished: the attempt's outcome is already recorded (409): a repeat changes nothing.
            MalformedCallback: the event is not a result of this attempt (400); a result that does not
                parse is recorded as a retryable failure, as a malformed synchronous reply is.
        """
        now = self.clock.now().timestamp()
        reply_tokens.check(self._secret, attempt_id, authorization, now)
        found = await self.store.attempt(attempt_id)
        if found is None:
            raise NotFound(f"attempt {attempt_id!r} does not exist", attempt=attempt_id)
        status, claim = found
        if status != "running":
            self.duplicates += 1
            raise AttemptFinished(f"attempt {attempt_id!r} is {status} already", attempt=attempt_id, recorded=status)
        malformed = _malformed(attempt_id, headers, body)
        if malformed is not None and malformed.fields.get("field") == "ce-id":
            raise malformed
        reply: HttpReply = HttpReply(200, dict(headers), body)
        if self.files is not None:
            reply = await self.files.settle(claim, reply)
        outcome = outcome_of(reply)
        transition = await self.runs.complete(
            claim.run_id, claim.step, attempt_id, outcome, self.clock.now().timestamp(), recorder.worker()
        )
        if transition.duplicate:
            self.duplicates += 1
            raise AttemptFinished(f"attempt {attempt_id!r} finished meanwhile", attempt=attempt_id)
        self.recorded += 1
        log.info("recorded the callback of attempt %s: %s", attempt_id, outcome.status.value)
        recorder.apply(transition)
        self._resolve(attempt_id, outcome)
        if malformed is not None:
            raise malformed
        return outcome

    def _resolve(self, attempt_id: str, outcome: Outcome) -> None:
        wait = self._waits.get(attempt_id)
        if wait is not None and not wait.future.done():
            wait.future.set_result(outcome)

    # -- background ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Start looking for results other replicas recorded, and holding the leases of the waits."""
        self._loop = asyncio.create_task(self._watch(), name="knflow-replies")

    async def stop(self) -> None:
        """Stop watching and end the waits (their attempts stay running in the store, leases held)."""
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)
        for wait in self._waits.values():
            wait.future.cancel()

    async def _watch(self) -> None:
        rounds_per_hold = max(1, round(self.settings.lease / 3 / self.settings.interval))
        round_ = 0
        outage = Outage("looking for callbacks in the run store", log, base=self.settings.interval)
        while True:
            await asyncio.sleep(self.settings.interval)
            round_ += 1
            if not self._waits:
                continue
            try:
                await self._watch_once(hold=round_ % rounds_per_hold == 0)
                outage.succeeded()
            except ControlPlaneError as exc:
                await asyncio.sleep(outage.failed(exc))  # one line when the outage starts, one when it ends

    async def _watch_once(self, *, hold: bool) -> None:
        waits = list(self._waits.values())
        for attempt_id, outcome in (await self.store.finished([w.claim.attempt_id for w in waits])).items():
            self._resolve(attempt_id, outcome)
        if hold:
            # Again now and then: a heartbeat that read the claim just before its wait began may have
            # shortened the lease since.
            holds = [(w.claim.run_id, w.claim.step, w.hold_until) for w in waits if not w.future.done()]
            await self.store.hold_leases(self.worker, holds)


def _malformed(attempt_id: str, headers: Mapping[str, str], body: bytes) -> MalformedCallback | None:
    try:
        _, _, event_id = decode_result(headers, body)
    except MalformedEvent as exc:
        return MalformedCallback(str(exc), field=exc.field)
    if event_id != attempt_id:
        return MalformedCallback(f"expected {attempt_id!r}, got {event_id!r}", field="ce-id")
    return None
