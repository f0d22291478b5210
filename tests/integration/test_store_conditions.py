"""Conditions in the run store, on SQLite and a real Postgres: a step's ``when`` is stored with it and
decided by the state machine when its upstream steps have finished (in a later transaction, from what the
store loads); a step not run is recorded ``skipped``, the steps reading it too; ``first_of`` picks the
branch that ran; ``after`` orders steps that share no data."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from knflow import action, first_of, workflow
from knflow.spec import load_spec
from knflow_control_plane.adapters.sqlalchemy.store import SqlAlchemyStore
from knflow_control_plane.domain.ids import new_run_id
from knflow_control_plane.domain.model import Outcome, plan_run
from knflow_control_plane.domain.records import Claim, NewRun, Worker
from tests.integration.conftest import sql_store


@pytest.fixture(params=["sqlite", "sqlite-inline", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlAlchemyStore]:
    """The shared stores, and SQLite with its transitions on the event loop's connection (where each
    run's state is kept between them: a skipped branch's outputs must not outlive it)."""
    async with sql_store(request.param, tmp_path) as opened:
        yield opened


@action
def classify(n: int) -> dict[str, Any]:
    return {"big": n > 10}


@action
def shout(n: int) -> dict[str, Any]:
    return {"text": f"BIG {n}"}


@action
def whisper(n: int) -> dict[str, Any]:
    return {"text": f"small {n}"}


@action
def sign(text: str) -> str:
    return text + "!"


@workflow
def branchy(n: int) -> object:
    kind = classify(n=n)
    big = shout.when(kind["big"])(n=n)
    small = whisper.when("not steps.classify.output.big")(n=n)
    return {"text": first_of(big["text"], small["text"]), "signed": first_of(sign(text=big["text"]), None)}


W = Worker("w1", lease=30.0, capacity=100)


def new_run(spec: Any, inputs: dict[str, Any]) -> NewRun:
    result = spec.result.model_dump(mode="json") if spec.result else None
    steps = plan_run(spec, spec.actions)
    return NewRun(new_run_id(time.time()), "default", spec.name, spec.version, inputs, steps, result)


def outputs_for(claim: Claim) -> dict[str, Any]:
    if claim.action == "classify":
        return {"big": claim.inputs["n"] > 10}
    if claim.action == "sign":
        return {"result": claim.inputs["text"] + "!"}
    word = "BIG" if claim.action == "shout" else "small"
    return {"text": f"{word} {claim.inputs['n']}"}


async def run_through(store: SqlAlchemyStore, spec: Any, inputs: dict[str, Any]) -> tuple[Any, list[str]]:
    """The run once every claim has succeeded, and the steps in the order they were claimed."""
    created = await store.create_run(new_run(spec, inputs), time.time(), W)
    claims, order = list(created.claims), []
    while claims:
        claim = claims.pop(0)
        order.append(claim.step)
        outcome = Outcome.succeeded(outputs_for(claim))
        done = await store.complete(claim.run_id, claim.step, claim.attempt_id, outcome, time.time(), W)
        claims.extend(done.claims)
    run = await store.get_run(created.run_id)
    assert run is not None
    return run, order


async def test_a_run_takes_the_branch_its_condition_chooses(store: SqlAlchemyStore) -> None:
    big, order = await run_through(store, branchy.spec, {"n": 42})
    assert big.status == "succeeded" and big.result == {"text": "BIG 42", "signed": "BIG 42!"}
    assert {s.name: s.status for s in big.steps} == {
        "classify": "succeeded",
        "shout": "succeeded",
        "whisper": "skipped",
        "sign": "succeeded",
    }
    assert "whisper" not in order
    small, order = await run_through(store, branchy.spec, {"n": 3})
    assert small.status == "succeeded" and small.result == {"text": "small 3", "signed": None}
    steps = {s.name: s for s in small.steps}
    assert {name: s.status for name, s in steps.items()} == {
        "classify": "succeeded",
        "shout": "skipped",
        "whisper": "succeeded",
        "sign": "skipped",
    }
    assert steps["shout"].attempts == [] and steps["sign"].attempts == []
    assert order == ["classify", "whisper"]


async def test_after_orders_steps_that_share_no_data(store: SqlAlchemyStore) -> None:
    actions = branchy.spec.model_dump(mode="json")["actions"]
    spec = load_spec(
        {
            "api_version": "knflow.dev/v2",
            "name": "ordered",
            "steps": [
                {"name": "first", "action": "whisper", "inputs": {"n": 1}},
                {"name": "second", "action": "shout", "inputs": {"n": 2}, "after": ["first"]},
            ],
            "actions": {"whisper": actions["whisper"], "shout": actions["shout"]},
            "result": {"step": "second", "output": "text"},
        }
    )
    run, order = await run_through(store, spec, {})
    assert run.status == "succeeded" and run.result == "BIG 2"
    assert order == ["first", "second"]
