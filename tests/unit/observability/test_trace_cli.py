"""``knflow trace RUN``: the span waterfall from stored attempt timings, as text and as JSON."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from knflow.cli import _context, app

from ..cli.fake_api import FakeApi, make_run, make_step

runner = CliRunner()


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    api = FakeApi()
    monkeypatch.setattr(_context, "make_client", api.client)
    return api


def attempt(number: int, status: str, start: str, end: str) -> dict[str, object]:
    return {"id": f"a{number}", "number": number, "status": status, "started_at": start, "finished_at": end}


def traced_run() -> dict[str, object]:
    day = "2025-01-01T00:00:"
    steps = [
        make_step(
            "fetch",
            "succeeded",
            started_at=f"{day}00.100000+00:00",
            finished_at=f"{day}00.600000+00:00",
            attempts=[attempt(1, "succeeded", f"{day}00.100000+00:00", f"{day}00.600000+00:00")],
        ),
        make_step(
            "shout",
            "succeeded",
            started_at=f"{day}00.600000+00:00",
            finished_at=f"{day}02+00:00",
            attempts=[
                attempt(1, "failed", f"{day}00.600000+00:00", f"{day}01+00:00"),
                attempt(2, "succeeded", f"{day}01.500000+00:00", f"{day}02+00:00"),
            ],
        ),
    ]
    return make_run("r1", "succeeded", steps, trace_id="0af7651916cd43dd8448eb211c80319c", finished_at=f"{day}02+00:00")


def test_trace_prints_the_waterfall_with_offsets_durations_and_bars(fake: FakeApi) -> None:
    fake.scripts["r1"] = [traced_run()]
    result = runner.invoke(app, ["trace", "r1"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "0af7651916cd43dd8448eb211c80319c" in result.output
    names = [line.split()[0] for line in lines if "|" in line]
    assert names == ["hello", "fetch", "attempt", "shout", "attempt", "attempt"]
    run_line = next(line for line in lines if line.startswith("hello"))
    assert "+0 ms" in run_line and "2.00 s" in run_line
    assert run_line.split("|")[1].strip(" ") == "█" * 40  # the run spans the whole scale
    retried = next(line for line in lines if "attempt 2" in line)
    assert "+1.50 s" in retried and "500 ms" in retried
    bar = retried.split("|")[1]
    assert bar.index("█") == 30 and bar.count("█") == 10  # starts at 1.5/2 of 40 columns, lasts 0.5/2
    assert fake.requests[-1].url.path == "/v1/runs/r1"


def test_trace_json_lists_the_spans(fake: FakeApi) -> None:
    fake.scripts["r1"] = [traced_run()]
    result = runner.invoke(app, ["trace", "r1", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    spans = body["spans"]
    assert [(s["kind"], s["name"], s["depth"]) for s in spans] == [
        ("run", "hello", 0),
        ("step", "fetch", 1),
        ("attempt", "attempt 1", 2),
        ("step", "shout", 1),
        ("attempt", "attempt 1", 2),
        ("attempt", "attempt 2", 2),
    ]
    assert [round(s["offset_ms"]) for s in spans] == [0, 100, 100, 600, 600, 1500]
    assert [round(s["duration_ms"]) for s in spans] == [2000, 500, 500, 1400, 400, 500]
    assert spans[4]["status"] == "failed"


def test_trace_of_an_unknown_run_is_an_api_error(fake: FakeApi) -> None:
    result = runner.invoke(app, ["trace", "ghost"])
    assert result.exit_code == 2
    assert "ghost" in result.output
