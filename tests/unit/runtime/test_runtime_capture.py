"""Log capture: each invocation gets only its own print and logging lines, threads and coroutines alike."""

from __future__ import annotations

import asyncio
import contextvars
import io
import logging
import random
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial

import pytest

from knflow_runtime import capture

log = logging.getLogger("capture-test")


@contextmanager
def routed(stdout: io.StringIO, stderr: io.StringIO) -> Iterator[capture.Capture]:
    # Inside the test body: pytest puts its own sys.stdout back between the phases of a test.
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = stdout, stderr
    installed = capture.install("INFO")
    try:
        yield installed
    finally:
        installed.uninstall()
        sys.stdout, sys.stderr = saved


def _expected(tag: str, lines: int) -> list[str]:
    expected = []
    for index in range(lines):
        expected += [f"{tag} out {index}", f"{tag} err {index}", f"INFO capture-test: {tag} log {index}"]
    return expected


def _lines(text: str) -> list[str]:
    # Log records start with a timestamp; drop it to compare.
    return [line.split(" ", 2)[2] if line.startswith("20") else line for line in text.splitlines()]


async def test_interleaved_coroutines_and_threads_never_mix() -> None:
    out, err = io.StringIO(), io.StringIO()
    barrier = threading.Barrier(10, timeout=10)
    pool = ThreadPoolExecutor(max_workers=10)

    def chatter(tag: str, lines: int) -> None:
        barrier.wait()  # all threads write at the same time
        for index in range(lines):
            print(f"{tag} out {index}")
            print(f"{tag} err {index}", file=sys.stderr)
            log.info("%s log %d", tag, index)

    async def coroutine(tag: str) -> str:
        with capture.capturing(10_000) as buffer:
            for index in range(5):
                print(f"{tag} out {index}")
                print(f"{tag} err {index}", file=sys.stderr)
                log.info("%s log %d", tag, index)
                await asyncio.sleep(random.random() / 1000)
            return buffer.text()

    async def threaded(tag: str) -> str:
        with capture.capturing(10_000) as buffer:
            # A copied context carries the buffer into the thread, as the runtime does for sync actions.
            run = partial(contextvars.copy_context().run, chatter, tag, 5)
            await asyncio.get_running_loop().run_in_executor(pool, run)
            return buffer.text()

    with routed(out, err):
        print("outside any invocation")
        texts = await asyncio.gather(
            *(coroutine(f"co{index}") for index in range(10)), *(threaded(f"th{index}") for index in range(10))
        )
        log.warning("also outside")
    pool.shutdown()

    tags = [f"co{index}" for index in range(10)] + [f"th{index}" for index in range(10)]
    for tag, text in zip(tags, texts, strict=True):
        assert _lines(text) == _expected(tag, 5)
    assert out.getvalue() == "outside any invocation\n"
    assert err.getvalue().endswith("WARNING capture-test: also outside\n")


def test_the_buffer_is_capped_with_a_marker() -> None:
    buffer = capture.LogBuffer(10)
    buffer.write("12345")
    buffer.write("67890abc")
    buffer.write("more")
    assert buffer.text() == "1234567890\n[knflow: logs truncated at 10 characters, 7 more dropped]\n"
    assert capture.LogBuffer(0).text() == ""


def test_uninstall_restores_streams_and_logging() -> None:
    out, err = io.StringIO(), io.StringIO()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    with routed(out, err) as installed:
        assert sys.stdout is not out
        assert installed.stdout is out
        assert sys.stdout.fileno is not None
        assert root.level == logging.INFO
    assert (sys.stdout, sys.stderr) != (out, err)  # routed() put pytest's streams back
    assert root.handlers == handlers
    assert root.level == level


def test_a_thread_started_without_the_context_writes_to_the_real_stream() -> None:
    out, err = io.StringIO(), io.StringIO()
    with routed(out, err), capture.capturing(1000) as buffer:
        print("mine")
        thread = threading.Thread(target=print, args=("stray",))
        thread.start()
        thread.join()
    assert buffer.text() == "mine\n"
    assert out.getvalue() == "stray\n"


def test_bytes_are_refused_like_a_text_stream_would() -> None:
    out, err = io.StringIO(), io.StringIO()
    with routed(out, err), capture.capturing(100) as buffer:
        with pytest.raises(TypeError, match="write\\(\\) argument must be str, not bytes"):
            sys.stdout.write(b"raw")  # type: ignore[arg-type]
        print("after")
    assert buffer.text() == "after\n"
