"""The knative backend with a long action, against the real API server: Knative's request limit (here
2 s) puts a 20 s action in async reply mode; its Service is shaped for it (scale-down delay, drain);
the function, a real runtime process, calls the control plane back over HTTP. Then the periodic
garbage collection deletes the Service once nothing uses it."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from typing import Any

import uvicorn

from knflow._loader import load_file
from knflow_control_plane.bootstrap import build
from knflow_control_plane.entrypoints.api import create_app

from .controllers import FakeCluster
from .test_knative_backend import FLOWS, ksvc, settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def until(predicate: Any, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < end, "timed out"
        await asyncio.sleep(0.1)


async def test_a_long_action_replies_by_callback_and_its_service_is_collected(
    cluster: FakeCluster, admin: Any, bucket: tuple[str, Any], tmp_path: Path
) -> None:
    port = free_port()
    config = settings(tmp_path / "cp", bucket[0]).model_copy(
        update={
            "knative_max_request_seconds": 2,
            "public_url": f"http://127.0.0.1:{port}",  # where functions call back
            "gc_interval_seconds": 0.5,
            "object_url_secret": "knative-reply-secret-0123456789",
        }
    )
    cp = build(config)
    await cp.start()
    app = create_app(config, control_plane=cp)
    app.state.control_plane = cp
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"))
    serving = asyncio.create_task(server.serve())
    try:
        project = load_file(FLOWS / "ponder.py")
        (spec,) = project.workflows.values()
        await cp.workflows.register(spec, project.files)
        deployed = await cp.workflows.deploy(spec.name)
        assert deployed["status"] == "ready", deployed
        ponder = spec.actions["ponder"]

        service = await ksvc(admin, "ponder", ponder.version)
        assert service is not None
        template = service["spec"]["template"]
        assert template["spec"]["timeoutSeconds"] == 2  # capped: the request only has to carry the 202
        assert template["metadata"]["annotations"]["autoscaling.knative.dev/scale-down-delay"] == "20s"
        env = {e["name"]: e["value"] for e in template["spec"]["containers"][0]["env"]}
        assert env["KNFLOW_DRAIN_SECONDS"] == "2"

        transition = await cp.workflows.start(spec.name, {"question": "life"}, trigger={"kind": "manual"})
        state = await cp.orchestrator.wait(transition.run_id, 60)
        assert state is not None and state[0] == "succeeded", state
        assert state[1] == {"answer": "life: 42"}
        assert cp.replies.recorded == 1  # by callback, not by the invoke's reply

        # Nothing uses the version once the workflow is not deployed: the periodic sweep deletes it
        # (the store is told directly, so that undeploy's own collection does not do it first).
        await cp.store.set_deployment(config.project, spec.name, spec.version, "undeployed", None, time.time())

        garbage = cp.garbage
        assert garbage is not None
        name = service["metadata"]["name"]

        async def collected() -> bool:
            # The collector records a name after its DELETE returns: polling the API instead raced it
            # (the Service gone, ``deleted`` still empty).
            return name in garbage.deleted

        await until(collected)
        assert await ksvc(admin, "ponder", ponder.version) is None
    finally:
        server.should_exit = True
        await serving
        await cp.stop()
