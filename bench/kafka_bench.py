"""Kafka trigger to run start, and event ingest (scenario 7 of issue #8): a slot for the eventing work.

    .venv/bin/python bench/kafka_bench.py [--quick] [--json rows.json]

To fill once triggers consume from Kafka: publish CloudEvents to ``knflow.triggers`` (binary mode) with
a deployed event trigger; report trigger-to-run-start p50/p99 (target p50 <= 20 ms, p99 <= 100 ms) and
sustained ingest in events/s per control-plane core (target >= 5,000). Until then it reports a row
saying so, so that the table shows the gap.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.benchlib import arguments, emit, row


def main() -> None:
    args = arguments(__doc__, stores="postgres")
    detail = "not measured yet: waits for triggers consumed from Kafka (eventing)"
    emit(
        [
            row("7 Kafka trigger -> run start", "postgres", target="p50<=20 p99<=100", detail=detail),
            row("7 Kafka ingest", "postgres", target=">=5000 events/s/core", detail=detail),
        ],
        args.json,
    )


if __name__ == "__main__":
    main()
