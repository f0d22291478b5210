"""Large JSON payloads: kept in the object store, referenced from the run record, fetched back on read.

The run store holds what the orchestrator needs to decide (statuses, leases, bindings); a 50 MiB step
output in a row would be copied on every read of the run. Over the threshold (256 KiB of JSON by
default) a value is written to the object store and the record holds ``{"knflow.payload": {"key",
"size"}}`` instead; logs hold ``[knflow.payload] {key}``. Values are offloaded one output at a time, so
bindings to the other outputs of the step still resolve in the store.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from ..domain.files import LOGS_MARKER, PAYLOAD_MARKER, payload_keys, replace_refs
from ..ports.objects import ObjectNotFound, ObjectStore

JSON_TYPE = "application/json"


class Payloads:
    """Offloads large values to ``objects`` and fetches them back.

    Args:
        objects: where offloaded values go.
        threshold: largest value, in bytes of compact JSON (or UTF-8 logs), kept inline.
    """

    def __init__(self, objects: ObjectStore, threshold: int):
        self.objects = objects
        self.threshold = threshold

    async def offload(self, value: Any, key: str) -> Any:
        """``value`` itself when it is small, else a reference to its copy stored under ``key``."""
        if not isinstance(value, dict | list | str):
            return value  # numbers, booleans and null are never large
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
        if len(text) <= self.threshold:
            return value
        await self.objects.put(key, text, JSON_TYPE)
        return {PAYLOAD_MARKER: {"key": key, "size": len(text)}}

    async def offload_logs(self, logs: str, key: str) -> str:
        """``logs`` when short, else the marker of their copy stored under ``key``."""
        if len(logs) <= self.threshold // 4 or len(data := logs.encode()) <= self.threshold:
            return logs
        await self.objects.put(key, data, "text/plain; charset=utf-8")
        return LOGS_MARKER + key

    async def resolve(self, value: Any) -> Any:
        """``value`` with every offloaded payload in it fetched back (a missing one reads as None)."""
        keys = payload_keys(value)
        if not keys:
            return value
        loaded = dict(zip(keys, await asyncio.gather(*(self._load(key) for key in keys)), strict=True))
        return replace_refs(value, lambda ref: loaded.get(str(ref.get("key"))), PAYLOAD_MARKER)

    async def resolve_logs(self, logs: str) -> str:
        """``logs`` with an offloaded copy fetched back."""
        if not logs.startswith(LOGS_MARKER):
            return logs
        key = logs.removeprefix(LOGS_MARKER).strip()
        try:
            return (await (await self.objects.get(key)).read()).decode("utf-8", errors="replace")
        except ObjectNotFound:
            return f"[knflow: the logs kept under {key} are gone]"

    async def _load(self, key: str) -> Any:
        try:
            return json.loads(await (await self.objects.get(key)).read())
        except ObjectNotFound:
            return None
