"""Live output of running attempts: what functions send while they run, for ``logs --follow``.

An invoke event carries ``"live": {"url", "token"}`` (the attempt's own bearer token, as for async
replies); the function POSTs ``{"offset", "text"}`` there while it runs (``knflow_runtime/live.py``).
This replica keeps that text in memory until the attempt's outcome is recorded (the outcome carries the
whole output, which the store keeps); followers read both. The text lives on the replica the function
reached: with several replicas behind one address, a follower on another one sees each attempt's
output when it ends. When a run is cancelled, the output its running attempts sent so far is written
to their records at once, and their whole output when they end (``keep_logs``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from urllib.parse import quote

from knflow import wire

from ..domain.records import Claim
from . import reply_tokens

#: the most characters kept per attempt (the runtime cuts its own logs at 1 MiB by default)
MAX_TEXT = 1024 * 1024


@dataclass
class _Attempt:
    run_id: str
    chunks: list[str] = field(default_factory=list)
    size: int = 0


class LiveLogs:
    """Output received from running attempts, and the addresses functions send it to.

    Args:
        base_url: how functions reach this control plane (``KNFLOW_PUBLIC_URL``).
        secret: the reply-token secret (the same token authorises an attempt's reply and its output).
        token_ttl: seconds a token stays valid past the attempt's deadline.
    """

    def __init__(self, base_url: str, secret: bytes, *, token_ttl: float = 300.0):
        self.base_url = base_url.rstrip("/")
        self._secret = secret
        self._token_ttl = token_ttl
        self._attempts: dict[str, _Attempt] = {}
        self._changed = asyncio.Event()

    def address(self, claim: Claim) -> wire.Reply:
        """The ``live`` of ``claim``'s invoke event: a URL for its output and a token for it alone."""
        path = f"{quote(claim.run_id, safe='')}/steps/{quote(claim.step, safe='')}/attempts/{claim.number}"
        expires = int(claim.deadline + self._token_ttl)
        return {
            "url": f"{self.base_url}/v1/runs/{path}/live",
            "token": reply_tokens.mint(self._secret, claim.attempt_id, expires),
        }

    def receive(self, run_id: str, attempt_id: str, authorization: str | None, offset: int, text: str) -> int:
        """Keep output an attempt sent (text after ``offset`` characters) and wake the followers.

        Returns:
            The characters now kept for the attempt; a repeated or overlapping send adds only what is new.

        Raises:
            ReplyTokenMissing: no bearer token.
            ReplyTokenInvalid: a token that is not this attempt's, or expired.
        """
        reply_tokens.check(self._secret, attempt_id, authorization, time.time())
        attempt = self._attempts.setdefault(attempt_id, _Attempt(run_id))
        new = text[max(0, attempt.size - offset) :] if offset <= attempt.size else text
        new = new[: max(0, MAX_TEXT - attempt.size)]
        if new:
            attempt.chunks.append(new)
            attempt.size += len(new)
            self.notify()
        return attempt.size

    def text(self, attempt_id: str) -> str | None:
        """What the attempt sent so far, or None when nothing is kept for it here."""
        attempt = self._attempts.get(attempt_id)
        if attempt is None:
            return None
        if len(attempt.chunks) > 1:
            attempt.chunks = ["".join(attempt.chunks)]
        return attempt.chunks[0] if attempt.chunks else ""

    def of_run(self, run_id: str) -> dict[str, str]:
        """The output kept for each running attempt of ``run_id``, by attempt id."""
        return {a: self.text(a) or "" for a, kept in list(self._attempts.items()) if kept.run_id == run_id}

    def finished(self, claim: Claim) -> None:
        """Forget an attempt whose outcome is recorded (the store has its whole output now)."""
        if self._attempts.pop(claim.attempt_id, None) is not None:
            self.notify()

    def notify(self) -> None:
        """Wake the followers (new output, or an attempt or run that ended)."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def changed(self, timeout: float) -> None:
        """Wait until something changes, or ``timeout`` seconds."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)
