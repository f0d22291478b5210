"""Live output: what an invocation prints, sent to the control plane while it runs.

An invoke event with ``"live": {"url", "token"}`` asks for it. The invocation's log buffer then tells a
:class:`LiveOutput` of each write; the first write after a quiet moment arms a timer, and when it fires
the text written since the last send is POSTed as ``{"offset", "text"}`` (``offset``: the characters
sent before it) with the attempt's bearer token. One send at a time, from a worker thread; a failed
send is dropped (the result event carries the whole output anyway). An invocation that ends within the
first ``delay`` sends nothing: its reply is as fast as without live output.
"""

from __future__ import annotations

import asyncio
import json
import logging

from knflow.wire import Reply

from .capture import LogBuffer
from .reply import _post

log = logging.getLogger("knflow_runtime.live")

#: seconds between a write and its send: output flushed by an action shows within about this
DELAY = 0.25
#: seconds one send may take
TIMEOUT = 5.0


class LiveOutput:
    """Sends one invocation's output to ``target`` while it runs.

    Args:
        target: the ``live`` address of the invoke event.
        buffer: the invocation's log buffer.
    """

    def __init__(self, target: Reply, buffer: LogBuffer):
        self.target = target
        self.buffer = buffer
        self.sent = 0
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._sending: asyncio.Task[None] | None = None
        self._closed = False
        buffer.listener = self._written

    def _written(self) -> None:
        # Called by the writer, maybe on a worker thread: arming happens on the loop.
        self._loop.call_soon_threadsafe(self._arm)

    def _arm(self) -> None:
        if self._closed or self._timer is not None or self._sending is not None:
            return
        self._timer = self._loop.call_later(DELAY, self._send)

    def _send(self) -> None:
        self._timer = None
        if not self._closed:
            self._sending = self._loop.create_task(self._post())

    async def _post(self) -> None:
        text = self.buffer.text_since(self.sent)
        try:
            if text:
                body = json.dumps({"offset": self.sent, "text": text}).encode()
                headers = {"content-type": "application/json", "authorization": f"Bearer {self.target['token']}"}
                await asyncio.to_thread(_post, self.target["url"], headers, body, TIMEOUT)
                self.sent += len(text)
        except Exception as exc:  # noqa: BLE001  (live output is best effort: the reply has it all)
            log.warning("live output not sent to %s: %s", self.target["url"].partition("?")[0], exc)
        finally:
            self._sending = None
        if not self._closed and self.buffer.size > self.sent:
            self._arm()  # written while this send was under way

    def close(self) -> None:
        """Stop sending: the invocation ended (its reply carries the whole output)."""
        self._closed = True
        self.buffer.listener = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
