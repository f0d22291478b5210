"""Files through the API: upload inputs (``/v1/files``, multipart runs), list a run's files, download one."""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.datastructures import UploadFile

from knflow import rest

from ..errors import InvalidRequest
from .context import plane, project_of, runs_of, workflows_of
from .openapi import problems
from .schemas import run_json

router = APIRouter(prefix="/v1")
_CHUNK = 1024 * 1024


_FORM = {"multipart/form-data": {"schema": {"type": "object", "additionalProperties": True}}}
_LOCATION = {"Location": {"schema": {"type": "string"}}}
_RAW = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}


# Answered without re-validation (a JSONResponse): uploads are on the measured file path.
@router.post(
    "/files",
    status_code=201,
    response_model=None,
    responses=problems(400, also={201: {"model": rest.Uploaded, "description": "The stored files' references"}}),
    openapi_extra={"requestBody": {"required": False, "content": _RAW | _FORM}},  # an empty file is a file
)
async def upload_files(request: Request, name: str = Query("", max_length=255)) -> JSONResponse:
    """Upload files to pass as workflow inputs; the body streams into the object store.

    Either a raw body (``?name=photo.png``, its ``Content-Type``) answered with ``{"file": ref}``, or a
    ``multipart/form-data`` body answered with ``{"files": {field: ref}}``. A ref (``{"knflow.file": ...}``)
    goes into ``inputs`` of ``POST /v1/runs`` or an HTTP trigger's JSON body.
    """
    cp = plane(request)
    content_type = request.headers.get("content-type", "")
    if content_type.lower().startswith("multipart/form-data"):
        return JSONResponse({"files": await form_files(request)}, status_code=201)
    media = content_type or None
    return JSONResponse(
        {"file": await cp.files.upload(request.stream(), name or "file", media, "file", project_of(request))}, 201
    )


async def form_files(request: Request) -> dict[str, Any]:
    """Store every file part of a multipart request; form fields that are not files are left out.

    Raises:
        InvalidRequest: the body is not a valid multipart form.
    """
    inputs, files = await form_inputs(request)
    return {name: value for name, value in inputs.items() if name in files}


@router.post(
    "/workflows/{name}/runs",
    status_code=201,
    response_model=rest.Run,
    responses=problems(404, 409),
    openapi_extra={"requestBody": {"required": True, "content": _FORM}},
)
async def start_with_files(
    request: Request, name: str, version: str | None = None, wait: float = Query(0, ge=0, le=300)
) -> dict[str, Any]:
    """Start a run from a ``multipart/form-data`` body: each file part is a ``File`` input, each other
    field an input (JSON when it parses as JSON, else text); ``?wait=S`` waits for the run to finish."""
    cp = plane(request)
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise InvalidRequest("send the inputs as multipart/form-data (or JSON to POST /v1/runs)", field="body")
    inputs, _ = await form_inputs(request)
    trigger = {"kind": "manual", "at": time.time()}
    transition = await workflows_of(request).start(name, inputs, version=version, trigger=trigger)
    if wait:
        await cp.orchestrator.wait(transition.run_id, wait)
    return await cp.files.present_run(run_json(await runs_of(request).get(transition.run_id)))


async def form_inputs(request: Request, project: str | None = None) -> tuple[dict[str, Any], set[str]]:
    """A multipart form as workflow inputs: each file part stored (as a file of ``project``, the request's
    when None) and replaced by its reference, each other field as its JSON value (or its text when it is not
    JSON); and the names of the file fields.

    Starlette spools each file part to a temporary file past 1 MiB, and it is streamed from there into
    the object store in 1 MiB chunks: an upload is never held whole in memory.

    Raises:
        InvalidRequest: the body is not a valid multipart form.
    """
    cp = plane(request)
    try:
        form = await request.form()
    except (ValueError, KeyError, AssertionError) as exc:
        raise InvalidRequest(f"the body is not a valid multipart form: {exc}", field="body") from exc
    inputs: dict[str, Any] = {}
    files: set[str] = set()
    try:
        for field, value in form.multi_items():
            if isinstance(value, UploadFile):
                inputs[field] = await cp.files.upload(
                    _chunks(value), value.filename or field, _type(value), field, project or project_of(request)
                )
                files.add(field)
            else:
                inputs[field] = _value(value)
    finally:
        await form.close()
    return inputs, files


@router.get("/runs/{run_id}/files", response_model=rest.RunFiles, responses=problems(404))
async def run_files(request: Request, run_id: str) -> dict[str, Any]:
    """The run's files (written by its attempts or named by its inputs), with sizes, content types,
    lineage (run, step, attempt, field) and download links; ``expired_at`` when retention deleted one."""
    cp = plane(request)
    view = await runs_of(request).get(run_id)
    files = await cp.files.run_files(run_id, view.inputs, project_of(request))
    return {"run_id": run_id, "files": files, "expired": any(f["expired_at"] is not None for f in files)}


@router.get(
    "/runs/{run_id}/files/{key:path}",
    status_code=307,
    response_class=RedirectResponse,
    responses=problems(404, 409, also={307: {"description": "A presigned URL, in `Location`", "headers": _LOCATION}}),
)
async def download(request: Request, run_id: str, key: str) -> RedirectResponse:
    """Download one file of the run: a redirect to a presigned URL (the bytes never pass through the API)."""
    cp = plane(request)
    record = await runs_of(request).file(run_id, key)
    return RedirectResponse(await cp.files.checked_link(record), status_code=307)


async def _chunks(upload: UploadFile) -> Any:
    while chunk := await upload.read(_CHUNK):
        yield chunk


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _type(upload: UploadFile) -> str | None:
    value = upload.content_type
    return value if value and value != "application/octet-stream" else None
