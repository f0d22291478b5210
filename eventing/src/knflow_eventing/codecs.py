"""knflow's CloudEvents: building them, reading them from HTTP, and the Kafka binding (also used in memory).

The cloudevents core library fills in a missing ``id``/``specversion`` and falls back to a string when
JSON data does not parse, which would let a malformed event through; so the required attributes and
JSON data are checked here before the library builds the event.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from cloudevents.core.bindings import http, kafka
from cloudevents.core.exceptions import BaseCloudEventException, CloudEventValidationError
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from . import strict_json
from .errors import MalformedCloudEvent

SPECVERSION = "1.0"
JSON_CONTENT_TYPE = "application/json"
STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
BATCH_CONTENT_TYPE = "application/cloudevents-batch+json"
REQUIRED = ("specversion", "id", "source", "type")


class _StrictJSON(JSONFormat):
    """JSON data that round-trips: strings and numbers are JSON-encoded, bad JSON is an error."""

    def write_data(self, data: dict[str, Any] | str | bytes | None, datacontenttype: str | None) -> bytes:
        if data is None or isinstance(data, bytes | bytearray) or not _is_json(datacontenttype):
            return super().write_data(data, datacontenttype)
        return json.dumps(data, separators=(",", ":"), default=str).encode()

    def read_data(self, body: bytes, datacontenttype: str | None) -> dict[str, Any] | str | bytes | None:
        if not body or not _is_json(datacontenttype):
            return super().read_data(body, datacontenttype)
        try:
            value: dict[str, Any] = strict_json.loads(body)
        except strict_json.JsonRefused as exc:
            raise MalformedCloudEvent(attribute="data", reason=exc.reason) from exc
        except ValueError as exc:  # UnicodeDecodeError is one
            raise MalformedCloudEvent(attribute="data", reason=f"not valid JSON ({exc})") from exc
        return value


_FORMAT = _StrictJSON()


def _is_json(content_type: str | None) -> bool:
    return content_type is None or JSONFormat.JSON_CONTENT_TYPE_PATTERN.match(content_type) is not None


def make_event(
    type: str,  # noqa: A002  # the CloudEvents attribute's own name
    source: str,
    data: Any = None,
    *,
    subject: str | None = None,
    id: str | None = None,  # noqa: A002  # the CloudEvents attribute's own name
    time: datetime | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> CloudEvent:
    """A CloudEvent 1.0 with JSON data (when there is data).

    Args:
        type: the event type, e.g. ``dev.knflow.run.finished``.
        source: the URI reference of what emitted it, e.g. ``/runs/{run_id}``.
        data: any JSON value, or bytes (sent as ``application/octet-stream``).
        subject: the subject within the source.
        id: the event id (a UUID4 when omitted); (source, id) identify the event.
        time: when it happened (now when omitted).
        extensions: extension attributes such as ``traceparent``.

    Raises:
        MalformedCloudEvent: an attribute is invalid (e.g. an extension name that is not lowercase
            alphanumeric).
    """
    attributes: dict[str, Any] = {
        "specversion": SPECVERSION,
        "id": id or str(uuid4()),
        "source": source,
        "type": type,
        "time": time or datetime.now(UTC),
    }
    if subject is not None:
        attributes["subject"] = subject
    if data is not None:
        attributes["datacontenttype"] = "application/octet-stream" if isinstance(data, bytes) else JSON_CONTENT_TYPE
    attributes.update(extensions or {})
    return _build(attributes, data)


def _build(attributes: dict[str, Any], data: Any) -> CloudEvent:
    try:
        return CloudEvent(attributes, data)
    except CloudEventValidationError as exc:
        name, errors = next(iter(exc.errors.items()))
        raise MalformedCloudEvent(attribute=name, reason="; ".join(map(str, errors))) from exc


def check_attributes(attributes: Mapping[str, Any]) -> None:
    """Check the required attributes before the library gets a chance to invent them.

    Raises:
        MalformedCloudEvent: naming the first missing or invalid one (``specversion`` first).
    """
    for name in REQUIRED:
        value = attributes.get(name)
        if value is None:
            raise MalformedCloudEvent(attribute=name, reason="missing")
        if not isinstance(value, str) or not value:
            raise MalformedCloudEvent(attribute=name, reason="must be a non-empty string")
    if attributes["specversion"] != SPECVERSION:
        raise MalformedCloudEvent(
            attribute="specversion", reason=f"unsupported {attributes['specversion']!r} (only {SPECVERSION})"
        )


def _wrap(call: Any, *args: Any) -> CloudEvent:
    """Run a library decoder, turning its errors into MalformedCloudEvent."""
    try:
        event: CloudEvent = call(*args)
    except MalformedCloudEvent:
        raise
    except CloudEventValidationError as exc:
        name, errors = next(iter(exc.errors.items()))
        raise MalformedCloudEvent(attribute=name, reason="; ".join(map(str, errors))) from exc
    except (BaseCloudEventException, ValueError, TypeError) as exc:
        raise MalformedCloudEvent(attribute="time", reason=str(exc)) from exc
    return event


def from_structured(value: Any, *, index: int | None = None) -> CloudEvent:
    """A CloudEvent from its JSON structured form (already parsed).

    Raises:
        MalformedCloudEvent: it is not an object, or an attribute is missing or invalid.
    """
    if not isinstance(value, dict):
        raise MalformedCloudEvent(
            attribute="specversion", reason="a structured event must be a JSON object", index=index
        )
    try:
        check_attributes(value)
        return _wrap(_FORMAT.read, CloudEvent, json.dumps(_json_data(value)).encode())
    except MalformedCloudEvent as exc:
        if index is None:
            raise
        raise MalformedCloudEvent(attribute=exc.attribute, reason=exc.reason, index=index) from exc


def _json_data(event: dict[str, Any]) -> dict[str, Any]:
    """A structured event whose JSON data came base64-encoded (``data_base64``), with the data decoded:
    it starts runs like the same event with ``data`` would (the library would hand out bytes)."""
    if "data_base64" not in event or not _is_json(event.get("datacontenttype")):
        return event
    try:
        data = strict_json.loads(base64.b64decode(event["data_base64"], validate=True))
    except (binascii.Error, TypeError, ValueError) as exc:
        reason = exc.reason if isinstance(exc, strict_json.JsonRefused) else f"not base64 of JSON data ({exc})"
        raise MalformedCloudEvent(attribute="data_base64", reason=reason) from exc
    return {name: value for name, value in event.items() if name != "data_base64"} | {"data": data}


def _load_json(body: bytes, *, batch: bool = False) -> Any:
    """A structured body, strictly (see ``strict_json``); a refusal names the attribute (and the index)."""
    try:
        return strict_json.loads(body)
    except strict_json.JsonRefused as exc:
        path = exc.path[1:] if batch else exc.path
        index = exc.path[0] if batch and exc.path and isinstance(exc.path[0], int) else None
        attribute = path[0] if path and isinstance(path[0], str) else None
        if attribute is None:  # too deep to say where: an event's attributes are strings, only data nests
            attribute = "data" if body.lstrip()[:1] == (b"[" if batch else b"{") else "specversion"
        raise MalformedCloudEvent(attribute=attribute, reason=exc.reason, index=index) from exc
    except ValueError as exc:  # UnicodeDecodeError is one
        raise MalformedCloudEvent(attribute="specversion", reason=f"body is not valid JSON ({exc})") from exc


def parse_http(headers: Mapping[str, str] | Iterable[tuple[str, str]], body: bytes) -> list[CloudEvent]:
    """The events of a ``POST /v1/events`` request: binary, structured or batched structured mode.

    Args:
        headers: the request headers (any case).
        body: the request body.

    Raises:
        MalformedCloudEvent: naming the attribute (``specversion``, ``id``, ``source``, ``type``, ``data``)
            and, in a batch, the event's index.
    """
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    lowered = {name.lower(): value for name, value in pairs}
    content_type = lowered.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type == BATCH_CONTENT_TYPE:
        batch = _load_json(body, batch=True)
        if not isinstance(batch, list):
            raise MalformedCloudEvent(attribute="specversion", reason="a batch must be a JSON array")
        return [from_structured(item, index=i) for i, item in enumerate(batch)]
    if content_type == STRUCTURED_CONTENT_TYPE:
        return [from_structured(_load_json(body))]
    if "ce-specversion" not in lowered and not any(name.startswith("ce-") for name in lowered):
        raise MalformedCloudEvent(
            attribute="specversion", reason="neither ce-* headers (binary mode) nor a structured content type"
        )
    check_attributes({name: lowered.get(f"ce-{name}") for name in REQUIRED})
    return [_wrap(http.from_binary, http.HTTPMessage(headers=lowered, body=body), _FORMAT, CloudEvent)]


def to_http_binary(event: CloudEvent) -> tuple[dict[str, str], bytes]:
    """``(headers, body)`` of ``event`` in HTTP binary mode."""
    message = http.to_binary(event, _FORMAT)
    return message.headers, message.body


def to_json(event: CloudEvent) -> bytes:
    """``event`` in JSON structured form (e.g. to store a run's trigger event)."""
    return _FORMAT.write(event)


def encode_kafka(event: CloudEvent, key: str | None) -> kafka.KafkaMessage:
    """``event`` as a Kafka message in binary mode (``ce_*`` headers, ``content-type``), keyed by ``key``."""
    return kafka.to_binary(event, _FORMAT, lambda _event: key)


def decode_kafka(message: kafka.KafkaMessage) -> CloudEvent:
    """A CloudEvent from a Kafka message in binary or structured mode; the key is not made an attribute.

    Raises:
        MalformedCloudEvent: naming what is wrong.
    """
    try:
        headers = {name.lower(): value.decode() for name, value in message.headers.items()}
    except UnicodeDecodeError as exc:
        raise MalformedCloudEvent(attribute="specversion", reason="a header is not UTF-8") from exc
    # The key travels beside the event (Delivery.key); the library would add it as 'partitionkey'.
    unkeyed = kafka.KafkaMessage(headers=message.headers, key=None, value=message.value)
    if any(name.startswith(kafka.CE_PREFIX) for name in headers):
        check_attributes({name: headers.get(kafka.CE_PREFIX + name) for name in REQUIRED})
        return _wrap(kafka.from_binary, unkeyed, _FORMAT, CloudEvent)
    content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != STRUCTURED_CONTENT_TYPE:
        raise MalformedCloudEvent(
            attribute="specversion", reason="neither ce_* headers (binary mode) nor a structured content type"
        )
    return from_structured(_load_json(message.value))
