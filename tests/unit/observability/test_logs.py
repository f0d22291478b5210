"""JSON log lines: one object per line with the ids bound around an attempt or a request."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest

from knflow_control_plane.observability import logs


def test_a_record_is_one_json_line_with_the_bound_ids() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("knflow.test.logs")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)

    async def attempt(step: str) -> None:
        logs.bind(run_id="r1", step=step, attempt=2, trace_id="ab" * 16)
        await asyncio.sleep(0)
        logger.info("invoking %s", step, extra={"action": "shout"})

    async def both() -> None:
        await asyncio.gather(attempt("a"), attempt("b"))  # each task keeps its own ids
        logger.warning("outside any attempt")

    try:
        asyncio.run(both())
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 4
    first, second, outside, failed = lines
    assert {first["step"], second["step"]} == {"a", "b"}
    assert first["message"] in ("invoking a", "invoking b") and first["message"].endswith(first["step"])
    assert first["run_id"] == "r1" and first["attempt"] == 2 and first["trace_id"] == "ab" * 16
    assert first["level"] == "INFO" and first["logger"] == "knflow.test.logs" and first["action"] == "shout"
    assert first["time"].endswith("Z")
    assert "run_id" not in outside and outside["level"] == "WARNING"
    assert "ValueError: boom" in failed["exception"]


def test_format_is_json_unless_asked_or_on_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert logs.resolve_format(None, io.StringIO()) == "json"
    assert logs.resolve_format(None, Tty()) == "text"
    assert logs.resolve_format("JSON", Tty()) == "json"
    assert logs.resolve_format("text", io.StringIO()) == "text"
    with pytest.raises(ValueError, match="KNFLOW_LOG_FORMAT"):
        logs.resolve_format("xml")


def test_configure_installs_one_handler_on_the_root_logger() -> None:
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    stream = io.StringIO()
    try:
        logs.configure("text", stream=stream)
        logs.configure("json", stream=stream)
        assert len(root.handlers) == 1
        logging.getLogger("knflow.test.configure").info("hello")
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved:
            root.addHandler(handler)
        root.setLevel(level)
    assert json.loads(stream.getvalue())["message"] == "hello"
