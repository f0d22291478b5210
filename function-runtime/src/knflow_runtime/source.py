"""``python -m knflow_runtime.source --trigger module:function``: run a custom ``@trigger``.

The generator's events are posted one by one, in order, to ``$K_SINK`` (the Knative sink convention;
the control plane's ``/v1/events``) as binary-mode CloudEvents with the source ``/triggers/{name}``.
A post that fails for a reason that may pass (connection refused, 5xx, 429) is sent again with the same
id, after a growing pause, until it is taken: the sink starts one run per event id, so retries cannot
double a run. A post refused for good (any other 4xx) is logged and skipped. The process ends when the
generator ends (status 0) or raises (status 1: the control plane starts it again).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import logging
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger("knflow.trigger")

RETRY_FIRST_S = 0.2
RETRY_MAX_S = 10.0


class SinkRefused(Exception):
    """The sink refused the event for good (a 4xx other than 429)."""


@dataclass(frozen=True)
class Sink:
    """Where events go: ``K_SINK``, with the API key when the control plane asks for one."""

    url: str
    api_key: str | None = None
    timeout: float = 30.0

    def post(self, headers: dict[str, str], body: bytes) -> int:
        """POST one event; the HTTP status (blocking: run it in a thread)."""
        parts = urlsplit(self.url)
        connection_type = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        connection = connection_type(parts.netloc, timeout=self.timeout)
        if self.api_key:
            headers = {**headers, "authorization": f"Bearer {self.api_key}"}
        try:
            connection.request("POST", parts.path or "/", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()


def binary_event(item: Any, name: str) -> tuple[dict[str, str], bytes]:
    """HTTP binary-mode headers and body of one yielded item (an ``Event`` or a dict of its fields).

    Raises:
        ValueError: when the item has no ``type``.
    """
    fields: Mapping[str, Any] = item if isinstance(item, Mapping) else vars(item)
    event_type = fields.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise ValueError(f"a trigger event needs a type, got {item!r}")
    at = fields.get("time") or datetime.now(UTC)
    headers = {
        "ce-specversion": "1.0",
        "ce-id": str(fields.get("id") or uuid.uuid4()),
        "ce-source": f"/triggers/{name}",
        "ce-type": event_type,
        "ce-time": at.isoformat() if isinstance(at, datetime) else str(at),
    }
    if fields.get("subject"):
        headers["ce-subject"] = str(fields["subject"])
    for key, value in (fields.get("extensions") or {}).items():
        headers[f"ce-{key}"] = str(value)
    data = fields.get("data")
    if data is None:
        return headers, b""
    if isinstance(data, bytes):
        return {**headers, "content-type": "application/octet-stream"}, data
    return {**headers, "content-type": "application/json"}, json.dumps(data).encode()


async def deliver(sink: Sink, headers: dict[str, str], body: bytes) -> None:
    """Post one event until the sink takes it.

    Raises:
        SinkRefused: the sink refused it for good.
    """
    pause = RETRY_FIRST_S
    while True:
        try:
            status = await asyncio.to_thread(sink.post, headers, body)
        except OSError as exc:
            status, reason = 0, str(exc)
        else:
            reason = f"HTTP {status}"
        if 200 <= status < 300:
            return
        if 400 <= status < 500 and status != 429:
            raise SinkRefused(f"event {headers['ce-id']} refused: {reason}")
        log.warning("posting event %s failed (%s); again in %.1fs", headers["ce-id"], reason, pause)
        await asyncio.sleep(pause)
        pause = min(RETRY_MAX_S, pause * 2)


async def run(events: AsyncIterator[Any], sink: Sink, name: str) -> int:
    """Post every event ``events`` yields; how many were taken."""
    taken = 0
    async for item in events:
        try:
            headers, body = binary_event(item, name)
            await deliver(sink, headers, body)
            taken += 1
        except (ValueError, SinkRefused) as exc:
            log.error("skipping an event of trigger %s: %s", name, exc)
    return taken


def _arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m knflow_runtime.source", description=__doc__)
    parser.add_argument("--trigger", default=os.environ.get("KNFLOW_TRIGGER"), help="module:function")
    parser.add_argument("--code-path", default=os.environ.get("KNFLOW_CODE_PATH"), help="where the code is")
    parser.add_argument("--name", default=os.environ.get("KNFLOW_TRIGGER_NAME"), help="the trigger's name")
    parser.add_argument("--sink", default=os.environ.get("K_SINK"), help="where events go ($K_SINK)")
    return parser.parse_args(list(argv))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the trigger named on the command line (or by ``KNFLOW_TRIGGER``) until its generator ends."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = _arguments(sys.argv[1:] if argv is None else argv)
    if not args.trigger or not args.sink:
        print("knflow trigger: --trigger (KNFLOW_TRIGGER) and --sink (K_SINK) are required", file=sys.stderr)
        return 2
    from .errors import LoadError
    from .loader import import_target

    try:
        found = import_target(args.trigger, args.code_path)
    except LoadError as exc:
        print(f"knflow trigger: {exc}", file=sys.stderr)
        return 2
    generator_function = getattr(found, "fn", found)
    name = args.name or getattr(found, "name", None) or args.trigger.rpartition(":")[2]
    sink = Sink(args.sink, os.environ.get("KNFLOW_API_KEY"))

    async def serve() -> int:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
        log.info("trigger %s posts its events to %s", name, sink.url)
        try:
            taken = await run(generator_function(), sink, name)
        except asyncio.CancelledError:
            return 0
        log.info("trigger %s ended after %d events", name, taken)
        return 0

    try:
        return asyncio.run(serve())
    except Exception:
        log.exception("trigger %s failed", name)
        return 1


if __name__ == "__main__":
    sys.exit(main())
