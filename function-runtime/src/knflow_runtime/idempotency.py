"""Replies of finished invocations by ``ce-id``, so that a repeated invoke gets the same answer."""

from __future__ import annotations

from collections import OrderedDict

from .contract import Headers

Reply = tuple[Headers, bytes]


class ReplyCache:
    """A least-recently-used map of invoke id -> encoded result event.

    Bounded by entries and by bytes: with logs of up to a MiB per reply, a count alone could hold
    a gigabyte.

    Args:
        max_entries: replies kept at most.
        max_bytes: total body bytes kept at most (a single larger reply is not kept).
    """

    def __init__(self, *, max_entries: int = 1024, max_bytes: int = 64 * 1024 * 1024):
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._replies: OrderedDict[str, Reply] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._replies)

    def get(self, invoke_id: str) -> Reply | None:
        """The reply of ``invoke_id``, if it is still kept."""
        reply = self._replies.get(invoke_id)
        if reply is not None:
            self._replies.move_to_end(invoke_id)
        return reply

    def put(self, invoke_id: str, reply: Reply) -> None:
        """Keep ``reply``, forgetting the least recently used ones beyond the bounds."""
        if len(reply[1]) > self.max_bytes:
            return
        old = self._replies.pop(invoke_id, None)
        if old is not None:
            self._bytes -= len(old[1])
        self._replies[invoke_id] = reply
        self._bytes += len(reply[1])
        while len(self._replies) > self.max_entries or self._bytes > self.max_bytes:
            _, evicted = self._replies.popitem(last=False)
            self._bytes -= len(evicted[1])
