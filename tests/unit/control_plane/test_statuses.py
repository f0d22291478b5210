"""Each error answers with the status it always did, now chosen by the API (``entrypoints/statuses.py``),
and the problems the hooks raise keep their bodies and headers."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi import FastAPI, Request

from knflow_control_plane import errors
from knflow_control_plane.adapters.fernet import SecretUnreadable
from knflow_control_plane.adapters.knative.kubernetes import KubeUnavailable
from knflow_control_plane.entrypoints import problems
from knflow_control_plane.entrypoints.statuses import status_of
from knflow_control_plane.ports.objects import (
    InvalidKey,
    ObjectNotFound,
    ObjectStoreUnavailable,
    TooLarge,
    UrlExpired,
    UrlInvalid,
)
from knflow_control_plane.service.files import FileTooLarge, MissingFile
from knflow_control_plane.service.replies import AttemptFinished, MalformedCallback
from knflow_control_plane.service.reply_tokens import ReplyTokenInvalid, ReplyTokenMissing
from knflow_control_plane.service.secrets import MissingSecret

STATUSES = {
    errors.ControlPlaneError: 500,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.InvalidRequest: 422,
    errors.EventDoesNotFit: 400,
    errors.MalformedBody: 400,
    errors.PayloadTooLarge: 413,
    errors.BuildFailed: 502,
    errors.DeployFailed: 502,
    errors.ActionLoadFailed: 502,
    errors.SecretNotApplied: 502,
    errors.FunctionUnavailable: 503,
    errors.StoreUnavailable: 503,
    errors.EventBusUnavailable: 503,
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.RateLimited: 429,
    errors.MethodNotAllowed: 405,
    errors.RunFailed: 500,
    errors.RunCancelled: 409,
    ObjectNotFound: 404,
    ObjectStoreUnavailable: 503,
    UrlExpired: 403,
    UrlInvalid: 403,
    TooLarge: 413,
    InvalidKey: 422,
    ReplyTokenMissing: 401,
    ReplyTokenInvalid: 403,
    AttemptFinished: 409,
    MalformedCallback: 400,
    MissingFile: 422,
    FileTooLarge: 413,
    MissingSecret: 422,
    SecretUnreadable: 503,
    KubeUnavailable: 503,
}


@pytest.mark.parametrize(("kind", "status"), STATUSES.items(), ids=[k.__name__ for k in STATUSES])
def test_each_error_class_answers_with_its_status(kind: type[errors.ControlPlaneError], status: int) -> None:
    error = kind.__new__(kind)  # the status depends on the class alone, whatever the fields
    assert status_of(error) == status


async def _raising(raised: Exception) -> httpx.Response:
    app = FastAPI()
    problems.install(app)

    @app.get("/boom")
    async def boom(request: Request) -> None:
        raise raised

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        return await client.get("/boom")


async def test_a_method_not_allowed_names_the_methods_in_allow_not_in_the_body() -> None:
    reply = await _raising(errors.MethodNotAllowed("/orders accepts GET, POST", allow="GET, POST"))
    assert reply.status_code == 405 and reply.headers["allow"] == "GET, POST"
    assert reply.headers["content-type"] == "application/problem+json"
    assert json.loads(reply.content) == {
        "type": "about:blank",
        "title": "Method not allowed",
        "status": 405,
        "detail": "/orders accepts GET, POST",
        "field": "method",
    }


async def test_a_waited_run_that_failed_or_was_cancelled_is_a_problem_naming_the_run() -> None:
    failed = errors.RunFailed("step 'a' failed: ValueError: no", workflow_run_id="r1", step="a", result_link="/l")
    reply = await _raising(failed)
    assert reply.status_code == 500 and reply.headers["x-knflow-run-id"] == "r1"
    assert json.loads(reply.content) == {
        "type": "about:blank",
        "title": "Run failed",
        "status": 500,
        "detail": "step 'a' failed: ValueError: no",
        "workflow_run_id": "r1",
        "step": "a",
        "result_link": "/l",
    }
    cancelled = await _raising(errors.RunCancelled("cancelled", workflow_run_id="r2", step=None, result_link="/l"))
    assert cancelled.status_code == 409 and json.loads(cancelled.content)["title"] == "Run cancelled"
