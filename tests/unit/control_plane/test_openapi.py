"""The OpenAPI document is valid, names each operation once, types every reply and declares every error
as the problem+json the server really sends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.routing import APIRoute, iter_route_contexts
from openapi_spec_validator import validate

from knflow_control_plane.entrypoints.api import create_app
from knflow_control_plane.settings import Settings

PROBLEM = {"$ref": "#/components/schemas/Problem"}
# Replies that are not JSON documents of the API's own: no content, a redirect, the workflow's own result.
UNTYPED = {"204", "307"}


def _document(tmp_path: Path) -> dict[str, Any]:
    document: dict[str, Any] = create_app(Settings(state_dir=tmp_path / ".knflow")).openapi()
    return document


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, item in document["paths"].items() for method, op in item.items()]


def test_the_document_passes_openapi_spec_validator(tmp_path: Path) -> None:
    validate(_document(tmp_path))


def test_operation_ids_are_unique_and_every_api_route_is_documented(tmp_path: Path) -> None:
    app = create_app(Settings(state_dir=tmp_path / ".knflow"))
    operations = _operations(app.openapi())
    ids = [op["operationId"] for _, _, op in operations]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    documented = {(method.upper(), path) for method, path, _ in operations}
    served = {
        (method, str(context.path_format))
        for context in iter_route_contexts(app.routes)
        if isinstance(route := context.original_route, APIRoute) and route.include_in_schema
        for method in context.methods or ()
    }
    assert len(served) >= 35
    assert served == documented


def test_every_error_is_a_problem_and_no_fastapi_validation_error_is_left(tmp_path: Path) -> None:
    document = _document(tmp_path)
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for method, path, op in _operations(document):
        for status, response in op["responses"].items():
            if status[0] in "45":
                content = response["content"]
                assert content["application/problem+json"]["schema"] == PROBLEM, (method, path, status)
                assert set(content) <= {"application/problem+json", "application/json"}, (method, path, status)
                if "application/json" in content:  # only hooks: a step's ActionError(code) reply
                    assert path == "/hooks/{path}", (method, path, status)
        for status in ("401", "403", "429", "503"):
            assert status in op["responses"], (method, path, status)
        if "parameters" in op or "requestBody" in op:
            assert "422" in op["responses"], (method, path)


def test_every_success_reply_has_a_schema(tmp_path: Path) -> None:
    for method, path, op in _operations(_document(tmp_path)):
        for status, response in op["responses"].items():
            if status[0] != "2" or status in UNTYPED:
                continue
            if "text/event-stream" in response["content"]:  # GET /v1/stream: Server-Sent Events
                assert set(response["content"]) == {"text/event-stream"}, (method, path)
                continue
            schema = response["content"]["application/json"].get("schema")
            if path == "/hooks/{path}" and status in ("200", "201"):
                assert not schema  # the workflow's result: any JSON its result binding makes
                continue
            assert schema and "$ref" in schema, (method, path, status, schema)
