"""Event data that JSON cannot carry faithfully is refused at ingest, naming the attribute: NaN and
Infinity, lone surrogates, nesting deeper than the limit; JSON data sent as ``data_base64`` is read as JSON."""

from __future__ import annotations

import base64
import json

import pytest
from cloudevents.core.bindings.kafka import KafkaMessage

from knflow_eventing import MalformedCloudEvent, decode_kafka, encode_kafka, parse_http

BINARY = {
    "ce-specversion": "1.0",
    "ce-id": "e1",
    "ce-source": "/src",
    "ce-type": "t",
    "content-type": "application/json",
}
STRUCTURED = {"content-type": "application/cloudevents+json"}
BATCH = {"content-type": "application/cloudevents-batch+json"}
EVENT = {"specversion": "1.0", "id": "e1", "source": "/src", "type": "t"}
DEEP = b"[" * 10_000 + b"]" * 10_000


@pytest.mark.parametrize(
    "body",
    [b'{"x": NaN}', b'{"x": Infinity}', b'{"x": -Infinity}', b'[1, {"y": [NaN]}]', b'{"x": "\\ud800"}', DEEP],
    ids=["nan", "infinity", "minus-infinity", "nested-nan", "lone-surrogate", "deep"],
)
def test_binary_data_json_cannot_carry_is_refused_naming_data(body: bytes) -> None:
    with pytest.raises(MalformedCloudEvent) as caught:
        parse_http(BINARY, body)
    assert caught.value.attribute == "data"


@pytest.mark.parametrize(
    ("body", "attribute"),
    [
        (b'{"specversion": "1.0", "id": "e1", "source": "/src", "type": "t", "data": {"x": NaN}}', "data"),
        (b'{"specversion": "1.0", "id": "e1", "source": "/\\udc00", "type": "t"}', "source"),
        (b'{"specversion": "1.0", "id": "e1", "source": "/src", "type": "t", "data": {"\\ud83d": 1}}', "data"),
        (b'{"specversion": "1.0", "id": "e1", "source": "/src", "type": "t", "data": ' + DEEP + b"}", "data"),
        (DEEP, "specversion"),
    ],
    ids=["nan", "surrogate-in-source", "surrogate-in-a-key", "deep-data", "deep-body"],
)
def test_structured_events_json_cannot_carry_are_refused_naming_the_attribute(body: bytes, attribute: str) -> None:
    with pytest.raises(MalformedCloudEvent) as caught:
        parse_http(STRUCTURED, body)
    assert caught.value.attribute == attribute


def test_a_bad_event_in_a_batch_is_named_with_its_index() -> None:
    body = b'[{"specversion": "1.0", "id": "e1", "source": "/s", "type": "t", "data": 1},'
    body += b' {"specversion": "1.0", "id": "e2", "source": "/s", "type": "t", "data": [Infinity]}]'
    with pytest.raises(MalformedCloudEvent) as caught:
        parse_http(BATCH, body)
    assert (caught.value.attribute, caught.value.index) == ("data", 1)


def test_a_valid_surrogate_pair_and_ordinary_floats_pass() -> None:
    [event] = parse_http(BINARY, b'{"smile": "\\ud83d\\ude00", "x": 1.5e300}')
    assert event.get_data() == {"smile": "\U0001f600", "x": 1.5e300}


def test_json_data_in_data_base64_is_read_as_json() -> None:
    encoded = base64.b64encode(json.dumps({"order": "A-1"}).encode()).decode()
    body = json.dumps({**EVENT, "datacontenttype": "application/json", "data_base64": encoded}).encode()
    [event] = parse_http(STRUCTURED, body)
    assert event.get_data() == {"order": "A-1"}


def test_json_data_in_data_base64_is_read_as_json_from_kafka_too() -> None:
    encoded = base64.b64encode(b'{"order": "A-2"}').decode()
    value = json.dumps({**EVENT, "data_base64": encoded}).encode()  # no datacontenttype: JSON by default
    event = decode_kafka(
        KafkaMessage(headers={"content-type": STRUCTURED["content-type"].encode()}, key=None, value=value)
    )
    assert event.get_data() == {"order": "A-2"}
    again = decode_kafka(encode_kafka(event, "k"))
    assert again.get_data() == {"order": "A-2"}


def test_binary_data_in_data_base64_stays_bytes() -> None:
    encoded = base64.b64encode(b"\x00\xff").decode()
    body = json.dumps({**EVENT, "datacontenttype": "application/octet-stream", "data_base64": encoded}).encode()
    [event] = parse_http(STRUCTURED, body)
    assert event.get_data() == b"\x00\xff"


def test_json_in_data_base64_that_does_not_parse_is_refused_naming_it() -> None:
    encoded = base64.b64encode(b"{not json").decode()
    body = json.dumps({**EVENT, "datacontenttype": "application/json", "data_base64": encoded}).encode()
    with pytest.raises(MalformedCloudEvent) as caught:
        parse_http(STRUCTURED, body)
    assert caught.value.attribute == "data_base64"
