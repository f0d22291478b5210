"""The invoke contract codec: round trips both ways, and every malformed event named precisely."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from knflow import wire
from knflow_runtime import MalformedEvent, decode_invoke, decode_result, encode_invoke, encode_result
from knflow_runtime.contract import Invocation, parse_rfc3339

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
DEADLINE = "2030-01-02T03:04:05.123456789Z"


def _data(**extra: Any) -> wire.InvokeData:
    return cast("wire.InvokeData", {"inputs": {"width": 128, "name": "é"}, "deadline": DEADLINE, **extra})


def test_invoke_round_trip_with_every_attribute() -> None:
    data = _data(
        files={"runs/r/a": {"get": "http://s/a?sig=1"}},
        uploads={"thumbnail": {"put": "http://s/b?sig=2", "key": "runs/r/b"}},
        reply={"url": "http://cp/callback", "token": "t0k"},
    )
    headers, body = encode_invoke("run-1", "resize", 3, data, TRACEPARENT)

    assert headers["ce-type"] == wire.INVOKE
    assert headers["ce-source"] == "/runs/run-1"
    assert headers["ce-subject"] == "resize"
    assert headers["ce-id"] == "run-1/resize/3"
    assert headers["ce-specversion"] == "1.0"
    assert headers["content-type"] == "application/json"
    assert headers["traceparent"] == headers["ce-traceparent"] == TRACEPARENT
    assert json.loads(body) == data

    invocation = decode_invoke(headers, body)
    assert invocation == Invocation("run-1", "resize", 3, "run-1/resize/3", data, TRACEPARENT)
    assert invocation.deadline == datetime(2030, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


def test_headers_are_read_in_any_case_and_the_http_traceparent_wins() -> None:
    headers, body = encode_invoke("r", "s", 1, _data(), "00-aaaa-bbbb-01")
    shouted = {name.upper(): value for name, value in headers.items()}
    shouted["TRACEPARENT"] = TRACEPARENT  # a hop on the way updated the HTTP header
    assert decode_invoke(shouted, body).traceparent == TRACEPARENT


def test_ids_with_special_characters_survive_the_headers() -> None:
    headers, body = encode_invoke("run 1%", "stép", 1, _data())
    invocation = decode_invoke(headers, body)
    assert (invocation.run_id, invocation.step, invocation.invoke_id) == ("run 1%", "stép", "run 1%/stép/1")


@given(
    inputs=st.dictionaries(
        st.text(min_size=1, max_size=10),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
            lambda children: (
                st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
            ),
            max_leaves=10,
        ),
        max_size=5,
    )
)
def test_any_json_inputs_round_trip(inputs: dict[str, Any]) -> None:
    headers, body = encode_invoke("r", "s", 1, cast("wire.InvokeData", {"inputs": inputs, "deadline": DEADLINE}))
    assert decode_invoke(headers, body).data["inputs"] == inputs


def _invocation() -> Invocation:
    return decode_invoke(*encode_invoke("r9", "step", 2, _data(), TRACEPARENT))


def test_succeeded_result_round_trip() -> None:
    result: wire.SucceededData = {"outputs": {"thumbnail": {"knflow.file": {"key": "k"}}, "n": 1}, "logs": "l\n"}
    headers, body = encode_result(_invocation(), result, "resize")
    assert headers["ce-type"] == wire.SUCCEEDED
    assert headers["ce-source"] == "/functions/resize"
    assert headers["ce-subject"] == "step"
    assert headers["ce-id"] == "r9/step/2"
    assert headers["ce-traceparent"] == TRACEPARENT
    assert decode_result(headers, body) == (wire.SUCCEEDED, result, "r9/step/2")


def test_failed_result_round_trip() -> None:
    error: wire.ErrorInfo = {
        "type": "ActionError",
        "message": "nope",
        "code": 404,
        "retryable": False,
        "traceback": None,
    }
    result: wire.FailedData = {"error": error, "logs": ""}
    headers, body = encode_result(_invocation(), result, "lookup")
    assert headers["ce-type"] == wire.FAILED
    assert decode_result(headers, body) == (wire.FAILED, result, "r9/step/2")


def test_outputs_that_are_not_json_cannot_be_encoded() -> None:
    with pytest.raises(TypeError):
        encode_result(_invocation(), {"outputs": {"s": {1}}, "logs": ""}, "a")
    with pytest.raises(ValueError):
        encode_result(_invocation(), {"outputs": {"nan": float("nan")}, "logs": ""}, "a")


GOOD_HEADERS, GOOD_BODY = encode_invoke("r", "s", 1, _data())


def _body(**data: Any) -> bytes:
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("changes", "body", "field", "words"),
    [
        ({"ce-specversion": None}, None, "ce-specversion", "not a CloudEvent"),
        ({"ce-specversion": "0.3"}, None, "ce-specversion", "expected '1.0'"),
        ({"ce-id": None}, None, "ce-id", "missing"),
        ({"ce-source": None}, None, "ce-source", "missing"),
        ({"ce-type": None}, None, "ce-type", "missing"),
        ({"ce-type": "com.example.other"}, None, "ce-type", "expected dev.knflow.step.invoke"),
        ({"ce-source": "/jobs/r"}, None, "ce-source", "/runs/{run_id}"),
        ({"ce-source": "/runs/"}, None, "ce-source", "/runs/{run_id}"),
        ({"ce-subject": None}, None, "ce-subject", "names the step"),
        ({"ce-id": "r/other/1"}, None, "ce-id", "expected 'r/s/{attempt}'"),
        ({"ce-id": "r/s/one"}, None, "ce-id", "expected 'r/s/{attempt}'"),
        ({"content-type": "text/plain"}, None, "content-type", "expected 'application/json'"),
        ({"ce-time": "yesterday"}, None, "ce-time", "RFC 3339"),
        ({"ce-bad-name": "x"}, None, "ce-bad-name", "lowercase letters and numbers"),
        ({}, b"{not json", "data", "not valid JSON"),
        ({}, b"", "data", "expected a JSON object"),
        ({}, b"[1, 2]", "data", "expected a JSON object, got an array"),
        ({}, _body(deadline=DEADLINE), "data.inputs", "missing"),
        ({}, _body(inputs=[1], deadline=DEADLINE), "data.inputs", "expected a JSON object"),
        ({}, _body(inputs={}), "data.deadline", "missing"),
        ({}, _body(inputs={}, deadline="2030-01-01T00:00:00"), "data.deadline", "time zone"),
        ({}, _body(inputs={}, deadline="soon"), "data.deadline", "not an RFC 3339 time"),
        ({}, _body(inputs={}, deadline=DEADLINE, files={"k": "http://x"}), "data.files.k", "JSON object"),
        ({}, _body(inputs={}, deadline=DEADLINE, files={"k": {"url": "x"}}), "data.files.k.get", "expected str"),
        ({}, _body(inputs={}, deadline=DEADLINE, uploads={"o": {"put": "x"}}), "data.uploads.o.key", "str"),
        ({}, _body(inputs={}, deadline=DEADLINE, reply={"url": "x"}), "data.reply.token", "expected str"),
    ],
)
def test_malformed_invokes_name_the_attribute_or_field(
    changes: dict[str, str | None], body: bytes | None, field: str, words: str
) -> None:
    headers = dict(GOOD_HEADERS)
    for name, value in changes.items():
        if value is None:
            headers.pop(name)
        else:
            headers[name] = value
    with pytest.raises(MalformedEvent) as caught:
        decode_invoke(headers, GOOD_BODY if body is None else body)
    assert caught.value.field == field
    assert words in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_a_missing_content_type_is_taken_as_json() -> None:
    headers = {k: v for k, v in GOOD_HEADERS.items() if k != "content-type"}
    assert decode_invoke(headers, GOOD_BODY).step == "s"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"logs": ""}, "data.outputs"),
        ({"outputs": {}}, "data.logs"),
        ({"error": {"type": "X", "message": "m", "retryable": "yes"}, "logs": ""}, "data.error.retryable"),
        ({"error": {"type": "X", "message": "m", "retryable": True, "code": True}, "logs": ""}, "data.error.code"),
    ],
)
def test_malformed_results_are_refused(data: dict[str, Any], field: str) -> None:
    event_type = wire.FAILED if "error" in data else wire.SUCCEEDED
    headers = {**GOOD_HEADERS, "ce-type": event_type}
    with pytest.raises(MalformedEvent) as caught:
        decode_result(headers, json.dumps(data).encode())
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'{"outputs": {"x": NaN}, "logs": ""}', "NaN is not a JSON number"),
        (b'{"outputs": {"x": [Infinity]}, "logs": ""}', "Infinity is not a JSON number"),
        (b'{"outputs": {"x": "\\ud800"}, "logs": ""}', "surrogate"),
    ],
)
def test_a_result_json_cannot_store_is_refused_when_it_arrives(body: bytes, words: str) -> None:
    with pytest.raises(MalformedEvent, match="the body is not valid JSON") as caught:
        decode_result({**GOOD_HEADERS, "ce-type": wire.SUCCEEDED}, body)
    assert caught.value.field == "data" and words in str(caught.value)


def test_an_invoke_is_not_a_result() -> None:
    with pytest.raises(MalformedEvent, match=r"expected dev\.knflow\.step\.succeeded or dev\.knflow\.step\.failed"):
        decode_result(GOOD_HEADERS, GOOD_BODY)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-06-01T12:00:00Z", datetime(2025, 6, 1, 12, tzinfo=UTC)),
        ("2025-06-01t12:00:00z", datetime(2025, 6, 1, 12, tzinfo=UTC)),
        ("2025-06-01T14:00:00.5+02:00", datetime(2025, 6, 1, 12, 0, 0, 500000, tzinfo=UTC)),
    ],
)
def test_rfc3339(text: str, expected: datetime) -> None:
    assert parse_rfc3339(text) == expected
