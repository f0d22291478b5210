"""Async reply mode: results POSTed to the control plane's callback URL, retried with backoff.

Used for actions that outlive the platform's request timeout: the invoke request was answered 202 at
once, so the result event travels back as a request of its own (binary mode, bearer token). Sends run
as background tasks; shutdown waits for them (:meth:`Replier.drain`).
"""

from __future__ import annotations

import asyncio
import logging

from knflow.wire import Reply

from .contract import Headers

log = logging.getLogger("knflow_runtime.reply")


class _Rejected(Exception):
    pass


class Replier:
    """Delivers result events to callback URLs in the background.

    Args:
        attempts: tries per result before giving up.
        first_delay: seconds before the second try; doubled each time.
        timeout: seconds one try may take.
    """

    def __init__(self, *, attempts: int = 5, first_delay: float = 0.2, timeout: float = 10.0):
        self.attempts, self.first_delay, self.timeout = attempts, first_delay, timeout
        self._tasks: set[asyncio.Task[bool]] = set()

    @property
    def pending(self) -> int:
        """Results not delivered (or given up on) yet."""
        return len(self._tasks)

    def send(self, reply: Reply, headers: Headers, body: bytes) -> asyncio.Task[bool]:
        """Start delivering one result event; the task's result says whether it was accepted."""
        task = asyncio.get_running_loop().create_task(self._deliver(reply, headers, body))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drain(self, timeout: float) -> None:
        """Wait (at most ``timeout`` seconds) for the deliveries under way."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    async def _deliver(self, reply: Reply, headers: Headers, body: bytes) -> bool:
        request_headers = {**headers, "authorization": f"Bearer {reply['token']}"}
        url, delay, event_id = reply["url"], self.first_delay, headers.get("ce-id")
        for attempt in range(1, self.attempts + 1):
            try:
                await asyncio.to_thread(_post, url, request_headers, body, self.timeout)
                return True
            except _Rejected as exc:
                log.error("result %s rejected by %s: %s", event_id, _safe(url), exc)
                return False
            except OSError as exc:
                log.warning("result %s not delivered to %s (try %d): %s", event_id, _safe(url), attempt, exc)
            if attempt < self.attempts:
                await asyncio.sleep(delay)
                delay *= 2
        log.error("result %s given up after %d tries", event_id, self.attempts)
        return False


def _post(url: str, headers: Headers, body: bytes, timeout: float) -> None:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        urllib.request.urlopen(request, timeout=timeout).close()  # noqa: S310
    except urllib.error.HTTPError as exc:
        exc.close()
        # 408 and 429 say "later"; any other 4xx will not change by asking again.
        if 400 <= exc.code < 500 and exc.code not in (408, 429):
            raise _Rejected(f"HTTP {exc.code} {exc.reason}") from None
        raise


def _safe(url: str) -> str:
    return url.partition("?")[0]
