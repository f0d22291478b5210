"""The contract's direct path writes and reads what the cloudevents binding does, and spares its import."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

from cloudevents.core.bindings.http import HTTPMessage, from_binary, to_binary
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from hypothesis import given
from hypothesis import strategies as st

from knflow import wire
from knflow_runtime import decode_invoke, decode_result, encode_invoke
from knflow_runtime.contract import _binding_decode, _direct_attributes

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
DATA: dict[str, Any] = {"inputs": {"n": 1}, "deadline": "2030-01-02T03:04:05Z"}
names = st.text(min_size=1, max_size=12)


def _binding_headers(run_id: str, step: str, attempt: int, traceparent: str | None) -> dict[str, str]:
    attributes: dict[str, Any] = {
        "specversion": "1.0",
        "type": wire.INVOKE,
        "source": wire.run_source(run_id),
        "subject": step,
        "id": wire.invoke_id(run_id, step, attempt),
        "datacontenttype": "application/json",
    }
    if traceparent:
        attributes["traceparent"] = traceparent
    headers = dict(to_binary(CloudEvent(attributes, dict(DATA)), JSONFormat()).headers)
    if traceparent:
        headers["traceparent"] = traceparent
    return headers


@given(run_id=names, step=names, attempt=st.integers(1, 10**6), traceparent=st.sampled_from([None, TRACEPARENT]))
def test_invoke_headers_are_the_bindings(run_id: str, step: str, attempt: int, traceparent: str | None) -> None:
    headers, body = encode_invoke(run_id, step, attempt, dict(DATA), traceparent)  # type: ignore[arg-type]
    expected = _binding_headers(run_id, step, attempt, traceparent)
    assert list(headers) == list(expected)  # same names in the same order
    assert {k: v for k, v in headers.items() if k != "ce-time"} == {k: v for k, v in expected.items() if k != "ce-time"}
    assert datetime.fromisoformat(headers["ce-time"]).tzinfo == UTC
    assert headers["ce-time"].endswith("Z")
    assert json.loads(body) == DATA


@given(run_id=names, step=names, attempt=st.integers(1, 10**6), traceparent=st.sampled_from([None, TRACEPARENT]))
def test_the_direct_read_agrees_with_the_binding(run_id: str, step: str, attempt: int, traceparent: str | None) -> None:
    headers, body = encode_invoke(run_id, step, attempt, dict(DATA), traceparent)  # type: ignore[arg-type]
    lowered = {k.lower(): v for k, v in headers.items()}
    attributes, data = _binding_decode(lowered, body)
    direct = _direct_attributes(lowered)
    if direct is not None:  # None: percent-coded values, which only the binding reads
        for name in ("id", "source", "type", "subject", "traceparent"):
            assert direct.get(name) == attributes.get(name)
    invocation = decode_invoke(headers, body)
    assert (invocation.run_id, invocation.step, invocation.attempt) == (run_id, step, attempt)
    assert invocation.data == data


def test_unusual_attributes_go_to_the_binding() -> None:
    base = {"ce-id": "i", "ce-source": "/runs/r", "ce-type": "t", "ce-specversion": "1.0"}
    assert _direct_attributes(base) is not None
    assert _direct_attributes({**base, "ce-time": "2030-01-02T03:04:05.5+01:00"}) is not None
    for extra in ({"ce-time": "2030-01-02t03:04:05z"}, {"ce-other": "x"}, {"ce-subject": ""}, {"ce-id": "a%20b"}):
        assert _direct_attributes({**base, **extra}) is None


def test_a_result_written_by_the_binding_reads_the_same() -> None:
    attributes = {"type": wire.SUCCEEDED, "source": "/functions/a", "id": "r/s/1", "subject": "s"}
    message = to_binary(CloudEvent(attributes, {"outputs": {}, "logs": ""}), JSONFormat())
    assert decode_result(message.headers, message.body) == (wire.SUCCEEDED, {"outputs": {}, "logs": ""}, "r/s/1")
    event = from_binary(HTTPMessage(headers=message.headers, body=message.body), JSONFormat(), CloudEvent)
    assert event.get_id() == "r/s/1"


def test_serving_a_function_does_not_import_the_binding() -> None:
    probe = "import sys, knflow_runtime.lifecycle; print(sorted({m.split('.')[0] for m in sys.modules}))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = done.stdout
    assert "'cloudevents'" not in loaded
    assert "'dateutil'" not in loaded
