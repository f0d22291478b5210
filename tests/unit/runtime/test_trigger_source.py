"""The custom-trigger runner of the function runtime: events to binary CloudEvents, posted to a real
loopback sink until taken, refused ones skipped."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from knflow import Event
from knflow_runtime import source


class Sink:
    """A loopback HTTP server answering each POST with the next status of ``statuses`` (then 202)."""

    def __init__(self, statuses: list[int]):
        self.statuses = statuses
        self.received: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                outer.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(outer.statuses.pop(0) if outer.statuses else 202)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def sink() -> Iterator[Sink]:
    server = Sink([])
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_an_event_becomes_a_binary_cloudevent_with_the_triggers_source() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    headers, body = source.binary_event(
        Event(type="t.x", data={"a": 1}, subject="s", id="i-1", time=at, extensions={"region": "eu"}), "watch"
    )
    assert headers["ce-source"] == "/triggers/watch"
    assert (headers["ce-type"], headers["ce-id"], headers["ce-subject"]) == ("t.x", "i-1", "s")
    assert headers["ce-time"] == at.isoformat()
    assert headers["ce-region"] == "eu"
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"a": 1}


def test_dicts_bytes_and_missing_data_are_accepted_and_a_missing_type_is_not() -> None:
    headers, body = source.binary_event({"type": "t", "data": b"\x00\x01"}, "w")
    assert (headers["content-type"], body) == ("application/octet-stream", b"\x00\x01")
    assert headers["ce-id"]  # a fresh UUID
    headers, body = source.binary_event({"type": "t"}, "w")
    assert body == b""
    assert "content-type" not in headers
    with pytest.raises(ValueError, match="needs a type"):
        source.binary_event({"data": 1}, "w")


async def test_a_post_is_retried_with_the_same_id_until_the_sink_takes_it(
    sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(source, "RETRY_FIRST_S", 0.01)
    sink.statuses = [503, 429, 202]
    headers, body = source.binary_event(Event(type="t", id="same"), "w")
    await source.deliver(source.Sink(sink.url), headers, body)
    assert [h["ce-id"] for h, _ in sink.received] == ["same", "same", "same"]


async def test_a_refused_event_is_skipped_and_the_next_one_is_posted(sink: Sink) -> None:
    sink.statuses = [400]

    async def events() -> AsyncIterator[Any]:
        yield Event(type="t", id="refused")
        yield {"data": "no type"}
        yield Event(type="t", id="taken")

    taken = await source.run(events(), source.Sink(sink.url, api_key="k"), "w")
    assert taken == 1
    assert [h["ce-id"] for h, _ in sink.received] == ["refused", "taken"]
    assert sink.received[1][0]["authorization"] == "Bearer k"


def test_main_without_a_sink_says_what_is_missing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("K_SINK", raising=False)
    assert source.main(["--trigger", "m:f"]) == 2
    assert "K_SINK" in capsys.readouterr().err
