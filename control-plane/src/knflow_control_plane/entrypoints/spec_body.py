"""Reading a workflow registration's body: limits first, then the spec. Called off the event loop: a big
spec takes seconds of CPU to parse and check, and the server must keep answering meanwhile."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from knflow.rest import WorkflowRequest
from knflow.spec import WorkflowSpec, load_spec, parse_text
from knflow.strict_json import JsonRefused, check

from ..errors import InvalidRequest, PayloadTooLarge


@dataclass(frozen=True)
class SpecLimits:
    """The documented size limits of a spec (``docs/api.md``).

    Attributes:
        steps: most steps (``KNFLOW_MAX_SPEC_STEPS``).
        bytes: largest spec as YAML or JSON text (``KNFLOW_MAX_SPEC_BYTES``).
    """

    steps: int
    bytes: int


def read_registration(
    raw: bytes, content_type: str, limits: SpecLimits
) -> tuple[WorkflowSpec, dict[str, bytes] | None]:
    """The spec and code of ``POST /v1/workflows``: JSON ``{"spec", "code"}``, or a YAML/JSON spec as the body.

    Raises:
        PayloadTooLarge: the spec is over ``limits.bytes``.
        InvalidRequest: the body is malformed, or the spec has more than ``limits.steps`` steps.
        SpecError: the spec is malformed (each field named).
    """
    if "yaml" in content_type:
        _check_bytes(len(raw), limits)
        data, code = parse_text(raw), None
        try:
            check(data)  # YAML's .nan, .inf: no JSON column can hold them (the JSON form's model checks its own)
        except JsonRefused as exc:
            raise InvalidRequest(exc.reason, field=".".join(["spec", *(str(p) for p in exc.path)])) from exc
    else:
        try:
            body = WorkflowRequest.model_validate_json(raw)
        except ValueError as exc:
            raise InvalidRequest(f"expected {{'spec': ..., 'code': ...}}: {exc}".splitlines()[0], field="body") from exc
        _check_bytes(len(json.dumps(body.spec, separators=(",", ":"))), limits)
        data, code = body.spec, (decode_files(body.code.files) if body.code else None)
    steps = data.get("steps") if isinstance(data, dict) else None
    if isinstance(steps, list) and len(steps) > limits.steps:
        raise InvalidRequest(f"a spec may have at most {limits.steps} steps, this one has {len(steps)}", field="steps")
    return load_spec(data), code


def _check_bytes(size: int, limits: SpecLimits) -> None:
    if size > limits.bytes:
        raise PayloadTooLarge(f"the spec is {size} bytes, over the limit of {limits.bytes}", field="spec")


def decode_files(files: dict[str, str]) -> dict[str, bytes]:
    """Code files sent as base64, decoded.

    Raises:
        InvalidRequest: naming the file that is not base64.
    """
    decoded = {}
    for path, text in files.items():
        try:
            decoded[path] = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidRequest(f"file {path!r} is not valid base64", field=f"code.files.{path}") from exc
    return decoded
