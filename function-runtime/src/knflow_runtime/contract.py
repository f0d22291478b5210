"""The invoke contract on the wire (DESIGN.md section 4), both directions, in one place.

The function runtime decodes invocations and encodes results; the control plane imports the same
functions to encode invocations and decode results, so the two sides cannot drift apart. Events
travel in CloudEvents HTTP binary mode, byte for byte as the cloudevents 2.x core binding writes and reads
them. The events knflow itself sends (string attributes, printable ASCII headers, a JSON object as data)
take a direct path; anything else goes through the binding, imported on first use: it and dateutil were
~40% of a spawned function's start. Only the JSON of the data goes through :class:`_JSONData` there, a
stricter and faster stand-in for ``JSONFormat``'s data path.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, cast

from knflow import strict_json, wire

if TYPE_CHECKING:
    from cloudevents.core.formats.json import JSONFormat

from .errors import MalformedEvent

Headers = dict[str, str]
Result = wire.SucceededData | wire.FailedData

SPECVERSION: Final = "1.0"
JSON: Final = "application/json"
_RUNS: Final = "/runs/"
# Compact and strict: NaN/Infinity are not JSON, so they fail here rather than in the reader.
_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


@dataclass(frozen=True)
class Invocation:
    """One decoded ``dev.knflow.step.invoke`` event.

    Attributes:
        run_id: the run (from ``ce-source: /runs/{run_id}``).
        step: the step's name (``ce-subject``).
        attempt: the attempt number (last part of ``ce-id``).
        invoke_id: ``ce-id``, ``{run_id}/{step}/{attempt}``: the idempotency key.
        data: the event's data, checked against :class:`knflow.wire.InvokeData`.
        traceparent: the W3C trace context (HTTP header, else the CloudEvents extension).
    """

    run_id: str
    step: str
    attempt: int
    invoke_id: str
    data: wire.InvokeData
    traceparent: str | None

    @property
    def deadline(self) -> datetime:
        """``data.deadline`` as an aware datetime (checked when the event was decoded)."""
        return parse_rfc3339(self.data["deadline"])


_CE_SAFE: Final = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"%')
# A header value the binding leaves as it is (printable ASCII but space, '"' and '%'): no percent-coding.
_PLAIN: Final = re.compile(r"[!#$&-~]*")
# The ``ce-`` attributes the direct path reads; any other (an unknown extension) goes to the binding.
_DIRECT: Final = frozenset(
    ("ce-specversion", "ce-id", "ce-source", "ce-type", "ce-subject", "ce-time", "ce-traceparent")
)
# RFC 3339 as knflow writes it (``Z`` or an offset, up to microseconds); other spellings go to the binding.
_TIME: Final = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)")


@functools.cache
def _json_data() -> JSONFormat:
    """The binding's ``JSONFormat``, failing on bad JSON instead of handing back a string, writing compactly."""
    from cloudevents.core.formats.json import JSONFormat  # imported on first use: see the module docstring

    class _JSONData(JSONFormat):
        def read_data(self, body: bytes, datacontenttype: str | None) -> dict[str, Any] | str | bytes | None:
            return _read_data(body)

        def write_data(self, data: dict[str, Any] | str | bytes | None, datacontenttype: str | None) -> bytes:
            if isinstance(data, dict):
                return _ENCODER.encode(data).encode()
            return super().write_data(data, datacontenttype)

    return _JSONData()


def _read_data(body: bytes) -> dict[str, Any] | None:
    if not body:
        return None
    try:  # strict: a NaN in a reply's outputs would be refused later by Postgres, leaving the step running
        return cast("dict[str, Any]", strict_json.loads(body))
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedEvent(f"the body is not valid JSON: {exc}", field="data") from exc


def encode_invoke(
    run_id: str, step: str, attempt: int, data: wire.InvokeData, traceparent: str | None = None
) -> tuple[Headers, bytes]:
    """The HTTP request (headers, body) that invokes a function for one step attempt.

    Args:
        run_id: the run.
        step: the step's name.
        attempt: the attempt number (1 for the first).
        data: inputs, deadline, and optionally files, uploads and reply.
        traceparent: the W3C trace context, sent as the HTTP header and the CloudEvents extension.

    Raises:
        ValueError: when ``data`` is not JSON-serialisable.
    """
    attributes: dict[str, Any] = {
        "specversion": SPECVERSION,
        "type": wire.INVOKE,
        "source": wire.run_source(run_id),
        "subject": step,
        "id": wire.invoke_id(run_id, step, attempt),
        "datacontenttype": JSON,
    }
    return _encode(attributes, cast("dict[str, Any]", data), traceparent)


def encode_result(invocation: Invocation, data: Result, action_name: str) -> tuple[Headers, bytes]:
    """The result event (headers, body) of an invocation: ``step.failed`` if ``data`` has an error.

    Args:
        invocation: what was invoked; the result carries its step, id and trace context.
        data: the outputs and logs, or the error and logs.
        action_name: the action that ran (``ce-source: /functions/{action_name}``).

    Raises:
        ValueError: when ``data`` is not JSON-serialisable.
    """
    attributes: dict[str, Any] = {
        "specversion": SPECVERSION,
        "type": wire.FAILED if "error" in data else wire.SUCCEEDED,
        "source": f"{wire.FUNCTION_SOURCE_PREFIX}{action_name}",
        "subject": invocation.step,
        "id": invocation.invoke_id,
        "datacontenttype": JSON,
    }
    return _encode(attributes, cast("dict[str, Any]", data), invocation.traceparent)


def _encode(attributes: dict[str, Any], data: dict[str, Any], traceparent: str | None) -> tuple[Headers, bytes]:
    if traceparent:
        attributes["traceparent"] = traceparent
    if isinstance(data, dict) and all(isinstance(value, str) and value for value in attributes.values()):
        headers = {
            "content-type" if name == "datacontenttype" else f"ce-{name}": _header(name, value)
            for name, value in attributes.items()
        }
        # The binding's event stamps ``time`` last, as ``isoformat()`` with ``Z`` for UTC.
        headers["ce-time"] = datetime.now(UTC).isoformat()[:-6] + "Z"
        body = _ENCODER.encode(data).encode()
    else:
        headers, body = _binding_encode(attributes, data)
    if traceparent:
        headers["traceparent"] = traceparent
    return headers, body


def _header(name: str, value: str) -> str:
    if name == "datacontenttype" or _PLAIN.fullmatch(value):
        return value
    from urllib.parse import quote  # rare: ids with spaces, non-ASCII names

    return quote(value, safe=_CE_SAFE)


def _binding_encode(attributes: dict[str, Any], data: Any) -> tuple[Headers, bytes]:
    from cloudevents.core.bindings.http import to_binary
    from cloudevents.core.v1.event import CloudEvent

    message = to_binary(CloudEvent(attributes, data), _json_data())
    return dict(message.headers), message.body


def decode_invoke(headers: Mapping[str, str], body: bytes) -> Invocation:
    """The invocation an HTTP request carries.

    Args:
        headers: the request's headers (any case).
        body: the request's body.

    Raises:
        MalformedEvent: naming the header (``ce-type``) or data field (``data.deadline``) that is wrong.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    event, data = _decode(lowered, body, (wire.INVOKE,))
    source: str = event["source"]
    if not source.startswith(_RUNS) or len(source) == len(_RUNS):
        raise MalformedEvent(f"expected '/runs/{{run_id}}', got {source!r}", field="ce-source")
    step: str | None = event.get("subject")
    if not step:
        raise MalformedEvent("missing: it names the step", field="ce-subject")
    run_id, invoke_id = source[len(_RUNS) :], event["id"]
    prefix = f"{run_id}/{step}/"
    attempt = invoke_id[len(prefix) :] if invoke_id.startswith(prefix) else ""
    if not (attempt.isascii() and attempt.isdigit()):
        raise MalformedEvent(f"expected '{prefix}{{attempt}}', got {invoke_id!r}", field="ce-id")
    traceparent = lowered.get("traceparent") or event.get("traceparent")
    return Invocation(run_id, step, int(attempt), invoke_id, _invoke_data(data), traceparent)


def decode_result(headers: Mapping[str, str], body: bytes) -> tuple[str, Result, str]:
    """The result a function replied with: ``(event type, data, invoke id)``.

    Args:
        headers: the reply's headers (any case).
        body: the reply's body.

    Raises:
        MalformedEvent: when the reply is not a ``step.succeeded``/``step.failed`` event of the right shape.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    event, raw = _decode(lowered, body, (wire.SUCCEEDED, wire.FAILED))
    data = _object(raw, "data")
    _typed(data, "logs", str, "data")
    if event["type"] == wire.SUCCEEDED:
        _object(data.get("outputs"), "data.outputs")
    else:
        error = _object(data.get("error"), "data.error")
        _typed(error, "type", str, "data.error")
        _typed(error, "message", str, "data.error")
        _typed(error, "retryable", bool, "data.error")
        if error.get("code") is not None:
            _typed(error, "code", int, "data.error")
        if error.get("traceback") is not None:
            _typed(error, "traceback", str, "data.error")
    return event["type"], cast("Result", data), event["id"]


def _decode(lowered: Headers, body: bytes, types: tuple[str, ...]) -> tuple[dict[str, Any], object]:
    """The event's attributes and data; the attributes the binding would reject go to it for its message."""
    specversion = lowered.get("ce-specversion")
    if specversion is None:
        raise MalformedEvent("missing: not a CloudEvent in HTTP binary mode", field="ce-specversion")
    if specversion != SPECVERSION:
        raise MalformedEvent(f"expected {SPECVERSION!r}, got {specversion!r}", field="ce-specversion")
    for name in ("ce-id", "ce-source", "ce-type"):
        if not lowered.get(name):
            raise MalformedEvent("missing: a CloudEvent requires it", field=name)
    content_type = lowered.get("content-type")
    if content_type is not None and not _is_json(content_type):
        raise MalformedEvent(f"expected {JSON!r}, got {content_type!r}", field="content-type")
    attributes = _direct_attributes(lowered)
    if attributes is None:
        attributes, data = _binding_decode(lowered, body)
    else:
        data = _read_data(body)
    if attributes["type"] not in types:
        raise MalformedEvent(f"expected {' or '.join(types)}, got {attributes['type']!r}", field="ce-type")
    return attributes, data


def _direct_attributes(lowered: Headers) -> dict[str, Any] | None:
    """The ``ce-`` attributes when the binding would take them as they are (valid, no percent-coding), else None."""
    attributes: dict[str, Any] = {}
    for name, value in lowered.items():
        if name.startswith("ce-"):
            if name not in _DIRECT or not value or "%" in value:
                return None
            attributes[name[3:]] = value
    time = attributes.get("time")
    if time is not None:
        if not _TIME.fullmatch(time):
            return None
        try:
            datetime.fromisoformat(time)
        except ValueError:
            return None
    return attributes


def _binding_decode(lowered: Headers, body: bytes) -> tuple[dict[str, Any], object]:
    from cloudevents.core.bindings.http import HTTPMessage, from_binary
    from cloudevents.core.exceptions import CloudEventValidationError
    from cloudevents.core.v1.event import CloudEvent

    try:
        event = from_binary(HTTPMessage(headers=lowered, body=body), _json_data(), CloudEvent)
    except CloudEventValidationError as exc:
        attribute, problems = next(iter(exc.errors.items()))
        raise MalformedEvent(str(problems[0]), field=f"ce-{attribute}") from exc
    except MalformedEvent:
        raise
    except ValueError as exc:  # the binding parses only ``time``; dateutil says why it could not
        raise MalformedEvent(f"not an RFC 3339 time: {exc}", field="ce-time") from exc
    return event.get_attributes(), event.get_data()


def _is_json(content_type: str) -> bool:
    media = content_type.partition(";")[0].strip().lower()
    return media in (JSON, "text/json") or media.endswith("+json")


def _invoke_data(data: object) -> wire.InvokeData:
    checked = _object(data, "data")
    if "inputs" not in checked:
        raise MalformedEvent("missing: the action's inputs", field="data.inputs")
    _object(checked["inputs"], "data.inputs")
    deadline = checked.get("deadline")
    if not isinstance(deadline, str):
        raise MalformedEvent("missing or not a string: an RFC 3339 time", field="data.deadline")
    try:
        parse_rfc3339(deadline)
    except ValueError as exc:
        raise MalformedEvent(str(exc), field="data.deadline") from exc
    for name, keys in (("files", ("get",)), ("uploads", ("put", "key"))):
        if name in checked:
            for entry, value in _object(checked[name], f"data.{name}").items():
                slot = _object(value, f"data.{name}.{entry}")
                for key in keys:
                    _typed(slot, key, str, f"data.{name}.{entry}")
                if "max_size" in slot:
                    _typed(slot, "max_size", int, f"data.{name}.{entry}")
    _check_spare(checked)
    for name in ("reply", "live"):
        if name in checked:
            address = _object(checked[name], f"data.{name}")
            for key in ("url", "token"):
                _typed(address, key, str, f"data.{name}")
    return cast("wire.InvokeData", checked)


def _check_spare(checked: dict[str, Any]) -> None:
    spare = checked.get("spare", [])
    if not isinstance(spare, list):
        raise MalformedEvent(f"expected a JSON array, got {_json_kind(spare)}", field="data.spare")
    for index, value in enumerate(spare):
        slot = _object(value, f"data.spare[{index}]")
        for key in ("put", "key"):
            _typed(slot, key, str, f"data.spare[{index}]")
        if "max_size" in slot:
            _typed(slot, "max_size", int, f"data.spare[{index}]")


def _object(value: object, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedEvent(f"expected a JSON object, got {_json_kind(value)}", field=field)
    return cast("dict[str, Any]", value)


def _typed(container: Mapping[str, Any], key: str, kind: type, field: str) -> None:
    value = container.get(key)
    # bool is an int in Python but not in JSON: a code of ``true`` is wrong.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise MalformedEvent(f"expected {kind.__name__}, got {_json_kind(value)}", field=f"{field}.{key}")


def _json_kind(value: object) -> str:
    if value is None:
        return "null or nothing"
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(type(value), "a number")


def parse_rfc3339(text: str) -> datetime:
    """An aware datetime from an RFC 3339 timestamp (``2025-01-01T12:00:00Z``, any fraction digits).

    Raises:
        ValueError: when ``text`` is not a timestamp with a time zone.
    """
    try:
        moment = datetime.fromisoformat(text.upper())
    except ValueError:
        raise ValueError(f"not an RFC 3339 time: {text!r}") from None
    if moment.tzinfo is None:
        raise ValueError(f"an RFC 3339 time needs a time zone ('Z' or '+01:00'): {text!r}")
    return moment
