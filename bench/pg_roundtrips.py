"""Round trips to Postgres per hot transition of the run store, counted on the wire.

    .venv/bin/python bench/pg_roundtrips.py

The store talks to Postgres through a loopback proxy that reads the frontend protocol: every ``Sync``
(the end of an extended-protocol exchange: ``fetch``, ``execute`` with arguments, ``executemany``) and
every simple ``Query`` (``BEGIN``, ``COMMIT``) is one round trip; "writes" are the chunks the client
sent (about one ``send`` per message flush). Each transition is counted after a warm-up run, so
asyncpg's prepared statements are cached, as in steady state. Needs the test Postgres
(``scripts/services/up.sh``).
"""

from __future__ import annotations

import argparse
import asyncio
import struct
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.services import fresh_postgres_database

from knflow import action, workflow
from knflow_control_plane.adapters.sqlalchemy.batches import Completion
from knflow_control_plane.adapters.sqlalchemy.database import Database
from knflow_control_plane.adapters.sqlalchemy.migrations import migrate
from knflow_control_plane.adapters.sqlalchemy.store import SqlAlchemyStore
from knflow_control_plane.domain.ids import new_run_id
from knflow_control_plane.domain.model import Outcome, plan_run
from knflow_control_plane.domain.records import Claim, NewRun, Worker

FAN = 20


@action
async def noop(value: int = 0) -> int:
    return value


@action
async def gather(values: list[int]) -> int:
    return len(values)


@workflow
def chain3(value: int = 0) -> Any:
    for index in range(3):
        value = noop.named(f"s{index}")(value=value)
    return value


@workflow
def fan(value: int = 0) -> Any:
    seed = noop.named("seed")(value=value)
    return gather(values=[noop.named(f"f{i}")(value=seed) for i in range(FAN)])


class Wire:
    """A loopback proxy to Postgres counting the client's round trips and writes."""

    def __init__(self, host: str, port: int):
        self.target = (host, port)
        self.counts: Counter[str] = Counter()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(*self.target)
        await asyncio.gather(self._frontend(client_r, server_w), _pipe(server_r, client_w))

    async def _frontend(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buffer, started = b"", False
        while data := await reader.read(65536):
            self.counts["writes"] += 1
            buffer += data
            while True:
                if not started:  # startup packet: length, then no type byte
                    if len(buffer) < 4 or len(buffer) < struct.unpack("!i", buffer[:4])[0]:
                        break
                    size, code = struct.unpack("!ii", buffer[:8])
                    buffer, started = buffer[size:], code not in (80877103, 80877104)  # SSL/GSS requests
                    continue
                if len(buffer) < 5 or len(buffer) < 1 + struct.unpack("!i", buffer[1:5])[0]:
                    break
                kind, size = chr(buffer[0]), struct.unpack("!i", buffer[1:5])[0]
                self.counts[kind] += 1
                buffer = buffer[1 + size :]
            writer.write(data)
            await writer.drain()
        writer.close()

    def take(self) -> tuple[int, int]:
        """Round trips and writes since the last call."""
        counts, self.counts = self.counts, Counter()
        return counts["S"] + counts["Q"], counts["writes"]


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


W = Worker("rt", 30.0, 10_000)


def _new(spec: Any) -> NewRun:
    result = spec.result.model_dump(mode="json") if spec.result else None
    return NewRun(
        new_run_id(time.time()), "default", spec.name, spec.version, {"value": 1}, plan_run(spec, spec.actions), result
    )


async def _complete(store: SqlAlchemyStore, claim: Claim, worker: Worker | None = W) -> list[Claim]:
    outcome = Outcome.succeeded({"result": 1})
    done = await store.complete(claim.run_id, claim.step, claim.attempt_id, outcome, time.time(), worker)
    return list(done.claims)


async def measure(store: SqlAlchemyStore, wire: Wire) -> dict[str, tuple[int, int]]:
    """Round trips and writes of each hot transition."""
    out: dict[str, tuple[int, int]] = {}
    wire.take()
    created = await store.create_run(_new(chain3.spec), time.time(), W)
    out["create_run (3-step chain, claims its root)"] = wire.take()
    [first] = created.claims
    [second] = await _complete(store, first)
    out["complete of a chain step (claims the next)"] = wire.take()
    [third] = await _complete(store, second)
    wire.take()
    assert await _complete(store, third) == []
    out["complete of the last step (run succeeds)"] = wire.take()

    created = await store.create_run(_new(fan.spec), time.time(), W)
    wire.take()
    siblings = await _complete(store, created.claims[0])
    out[f"complete releasing {FAN} siblings (claims them)"] = wire.take()
    await _complete(store, siblings[0])
    wire.take()
    outcome = Outcome.succeeded({"result": 1})
    await store._complete_batch(
        "lane", [Completion(c.run_id, c.step, c.attempt_id, outcome, time.time(), W) for c in siblings[1:-1]]
    )
    out[f"{len(siblings) - 2} siblings' completions in one batch"] = wire.take()
    await _complete(store, siblings[0])
    out["duplicate complete"] = wire.take()
    [join] = await _complete(store, siblings[-1])
    out[f"complete releasing a {FAN}-input join (claims it)"] = wire.take()
    await _complete(store, join)

    await store.create_run(_new(chain3.spec), time.time(), None)
    wire.take()
    [transition] = await store.claim_ready(time.time(), W)
    out["claim_ready (one run with one ready step)"] = wire.take()
    assert len(transition.claims) == 1

    assert await store.run_status(transition.run_id) is not None
    out["run_status (a waiter's read)"] = wire.take()
    assert await store.finished_among([created.run_id, transition.run_id]) == {created.run_id}
    out["finished_among (the waiters' watcher, 2 runs)"] = wire.take()
    await store.next_due()
    out["next_due (the poll's sleep)"] = wire.take()
    return out


async def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    url = await fresh_postgres_database("roundtrips")
    head, rest = url.split("@", 1)
    hostport, database = rest.split("/", 1)
    host, port = hostport.rsplit(":", 1)
    migrated = Database(url)
    await migrate(migrated)
    await migrated.dispose()
    wire = Wire(host, int(port))
    local = await wire.start()
    store = SqlAlchemyStore(Database(f"{head}@127.0.0.1:{local}/{database}"), outbox=True)
    await store.ensure_project("default", 0.0)
    try:
        await measure(store, wire)  # warm: asyncpg prepares each statement once per connection
        for name, (trips, writes) in (await measure(store, wire)).items():
            print(f"{name:52} {trips:3} round trips {writes:4} writes")
    finally:
        await store.close()
        wire.server.close()


if __name__ == "__main__":
    asyncio.run(main())
