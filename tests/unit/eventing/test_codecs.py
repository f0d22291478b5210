"""HTTP ingest (binary, structured, batch), malformed input naming its attribute, and the Kafka binding."""

from __future__ import annotations

import json

import pytest
from cloudevents.core.bindings.kafka import KafkaMessage

from knflow_eventing import MalformedCloudEvent, decode_kafka, encode_kafka, make_event, parse_http, to_http_binary

BINARY = {"ce-specversion": "1.0", "ce-id": "e1", "ce-source": "/src", "ce-type": "t.created"}
STRUCTURED = {"specversion": "1.0", "id": "e1", "source": "/src", "type": "t.created", "data": {"a": 1}}


def test_binary_mode() -> None:
    headers = {**BINARY, "Content-Type": "application/json", "ce-subject": "s", "ce-traceparent": "00-ab-cd-01"}
    [event] = parse_http(headers, b'{"a": 1}')
    assert (event.get_id(), event.get_source(), event.get_type(), event.get_subject()) == (
        "e1",
        "/src",
        "t.created",
        "s",
    )
    assert event.get_data() == {"a": 1}
    assert event.get_extension("traceparent") == "00-ab-cd-01"


def test_structured_mode() -> None:
    [event] = parse_http(
        {"content-type": "application/cloudevents+json; charset=utf-8"}, json.dumps(STRUCTURED).encode()
    )
    assert event.get_id() == "e1"
    assert event.get_data() == {"a": 1}


def test_batched_structured_mode() -> None:
    batch = [STRUCTURED, {**STRUCTURED, "id": "e2", "data": [1, 2]}]
    events = parse_http([("Content-Type", "application/cloudevents-batch+json")], json.dumps(batch).encode())
    assert [e.get_id() for e in events] == ["e1", "e2"]
    assert events[1].get_data() == [1, 2]  # type: ignore[comparison-overlap]  # any JSON, whatever the stub says


@pytest.mark.parametrize("attribute", ["specversion", "id", "source", "type"])
def test_a_missing_required_attribute_is_named_in_binary_mode(attribute: str) -> None:
    headers = {k: v for k, v in BINARY.items() if k != f"ce-{attribute}"}
    with pytest.raises(MalformedCloudEvent) as caught:
        parse_http(headers, b"{}")
    assert caught.value.attribute == attribute
    assert attribute in str(caught.value)


@pytest.mark.parametrize("attribute", ["specversion", "id", "source", "type"])
def test_a_missing_required_attribute_is_named_in_structured_mode(attribute: str) -> None:
    body = json.dumps({k: v for k, v in STRUCTURED.items() if k != attribute}).encode()
    with pytest.raises(MalformedCloudEvent) as caught:
        parse_http({"content-type": "application/cloudevents+json"}, body)
    assert caught.value.attribute == attribute


def test_a_bad_event_in_a_batch_is_named_with_its_index() -> None:
    batch = [STRUCTURED, {**STRUCTURED, "type": ""}]
    with pytest.raises(MalformedCloudEvent) as caught:
        parse_http({"content-type": "application/cloudevents-batch+json"}, json.dumps(batch).encode())
    assert (caught.value.attribute, caught.value.index) == ("type", 1)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("headers", "body", "attribute"),
    [
        ({**BINARY, "ce-specversion": "0.3"}, b"{}", "specversion"),
        ({**BINARY, "content-type": "application/json"}, b"{oops", "data"),
        ({"content-type": "application/json"}, b"{}", "specversion"),
        ({"content-type": "application/cloudevents+json"}, b"[1", "specversion"),
        ({"content-type": "application/cloudevents-batch+json"}, b"{}", "specversion"),
        ({**BINARY, "ce-time": "yesterday"}, b"", "time"),
    ],
)
def test_malformed_input(headers: dict[str, str], body: bytes, attribute: str) -> None:
    with pytest.raises(MalformedCloudEvent) as caught:
        parse_http(headers, body)
    assert caught.value.attribute == attribute


def test_make_event_defaults_and_extensions() -> None:
    event = make_event("t", "/s", {"x": 1}, subject="sub", extensions={"traceparent": "tp"})
    assert event.get_specversion() == "1.0"
    assert event.get_id() and event.get_time() is not None
    assert event.get_datacontenttype() == "application/json"
    assert event.get_extension("traceparent") == "tp"
    with pytest.raises(MalformedCloudEvent) as caught:
        make_event("t", "/s", extensions={"Bad-Name": "x"})
    assert caught.value.attribute == "Bad-Name"


@pytest.mark.parametrize("data", [{"a": [1, {"b": None}]}, "123", "text", 42, [1, 2], b"\x00\xff", None])
def test_kafka_binding_round_trips_data(data: object) -> None:
    event = make_event("t", "/s", data, id="e")
    message = encode_kafka(event, "run-1")
    assert message.key == "run-1"
    assert message.headers["ce_id"] == b"e"
    decoded = decode_kafka(message)
    assert decoded.get_data() == data
    assert decoded.get_attributes() == event.get_attributes()


def test_http_binary_round_trip() -> None:
    event = make_event("t", "/s", {"a": "ü"}, subject="a b%c")
    headers, body = to_http_binary(event)
    [back] = parse_http(headers, body)
    assert back.get_attributes() == event.get_attributes()
    assert back.get_data() == {"a": "ü"}


def test_kafka_message_without_cloudevent_headers_is_malformed() -> None:
    with pytest.raises(MalformedCloudEvent) as caught:
        decode_kafka(KafkaMessage(headers={}, key=None, value=b"{}"))
    assert caught.value.attribute == "specversion"
