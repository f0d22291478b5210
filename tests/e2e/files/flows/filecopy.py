"""Files end to end: fetch a file from a URL, transform it in a second action, return a file."""

import os
import shutil
import tempfile
import time
import urllib.request
from typing import Any

from knflow import File, action, http_trigger, workflow

#: byte b -> 255 - b: a transformation whose result differs from its input at every byte
INVERT = bytes(range(255, -1, -1))
CHUNK = 1024 * 1024


@action(timeout="600s", retries=0)
def fetch(url: str) -> File:
    """Download ``url`` to a local file (streamed) and return it."""
    handle, path = tempfile.mkstemp(prefix="fetched-")
    with urllib.request.urlopen(url) as response, os.fdopen(handle, "wb") as out:
        shutil.copyfileobj(response, out, CHUNK)
    return File(path, name=os.path.basename(url) or "fetched.bin", content_type="application/octet-stream")


@action(timeout="600s", retries=0)
def invert(data: File) -> File:
    """Every byte b of ``data`` as 255 - b, streamed chunk by chunk."""
    handle, path = tempfile.mkstemp(prefix="inverted-")
    with data.open() as source, os.fdopen(handle, "wb") as out:
        while chunk := source.read(CHUNK):
            out.write(chunk.translate(INVERT))
    return File(path, name=f"inverted-{data.name}", content_type="application/x-inverted")


@action(retries=0)
def pack(files: list[File], label: str = "") -> dict[str, Any]:
    """Files nested in a dict and a list: each new one takes a spare upload slot."""
    made = [File.from_bytes(f.read_bytes()[::-1], name=f"rev-{f.name}") for f in files]
    return {"bundle": {"label": label, "files": made}, "count": len(made)}


@action(retries=0)
def slow_writer(seconds: float) -> File:
    """Writes a file after ``seconds``: its upload URL may have expired by then."""
    time.sleep(seconds)
    return File.from_bytes(b"late", name="late.txt")


@action(retries=0)
def big_writer(size: int) -> File:
    """Writes ``size`` bytes."""
    return File.from_bytes(b"x" * size, name="big.bin")


@action(retries=0)
def size_of(data: File) -> int:
    """The size of ``data``."""
    return os.path.getsize(str(data.path))


@action(retries=0)
def chatter(lines: int) -> dict[str, Any]:
    """Prints ``lines`` lines and returns a large value (both over the offload threshold)."""
    for index in range(lines):
        print(f"line {index} " + "." * 80)
    return {"numbers": list(range(lines * 10)), "small": 1}


@workflow(triggers=[http_trigger(path="/filecopy", timeout="600s")])
def filecopy(url: str) -> object:
    """Fetch the file at ``url``, invert it, return the inverted file."""
    fetched = fetch(url=url)
    inverted = invert(data=fetched["result"])  # type: ignore[index]
    return {"inverted": inverted["result"]}  # type: ignore[index]


@workflow(triggers=[http_trigger(path="/invert", timeout="120s")])
def invert_upload(data: File) -> object:
    """Invert an uploaded file."""
    return {"inverted": invert(data=data)["result"]}  # type: ignore[index]


@workflow
def bundle(files: list[File], label: str = "") -> object:
    """Reverse several files into a nested bundle."""
    return pack(files=files, label=label)


@workflow
def measure(data: File) -> object:
    """The size of a file input."""
    return size_of(data=data)


@workflow
def late(seconds: float) -> object:
    """A file written after ``seconds``."""
    return slow_writer(seconds=seconds)


@workflow
def big(size: int) -> object:
    """A file of ``size`` bytes."""
    return big_writer(size=size)


@action(retries=0)
def total(numbers: list[int]) -> int:
    """The sum of ``numbers``."""
    return sum(numbers)


@workflow
def chatty(lines: int) -> object:
    """Large logs and a large output, then a step consuming the large output."""
    said = chatter(lines=lines)
    return {"numbers": said["numbers"], "total": total(numbers=said["numbers"])}


@workflow(triggers=[http_trigger(path="/sum", timeout="60s")])
def summed(numbers: list[int]) -> object:
    """A large workflow input (offloaded past the threshold), summed by one step."""
    return total(numbers=numbers)
