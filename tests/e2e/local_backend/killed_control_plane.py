"""A control plane in a process of its own, for the test that SIGKILLs it.

``python killed_control_plane.py ROOT``: starts a forked and a spawned instance, prints the pids of
every process it started as one JSON line, then waits to be killed.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from knflow.spec import ActionSpec
from knflow_control_plane.adapters.local.backend import LocalBackend
from knflow_control_plane.adapters.local.venv import VenvBuilder
from knflow_control_plane.ports import CodeBundle, HttpRequest

CODE = CodeBundle(files={"acts.py": b"import os\n\ndef pid():\n    return {'pid': os.getpid()}\n"}, digest="killed-cp")
EVENT = {
    "ce-specversion": "1.0",
    "ce-type": "dev.knflow.step.invoke",
    "ce-source": "/runs/r1",
    "ce-subject": "s",
    "content-type": "application/json",
}


async def main(root: Path) -> None:
    action = ActionSpec(name="pid", version="v1", entrypoint="acts:pid")
    artifact = (await VenvBuilder(root / "builds").build(action, CODE)).artifact
    forked = LocalBackend(root / "forked")
    spawned = LocalBackend(root / "spawned", fork_server=False)
    pids = []
    for n, backend in enumerate((forked, spawned)):
        await backend.deploy(action, artifact)
        body = b'{"inputs": {}, "deadline": "2999-01-01T00:00:00Z"}'
        reply = await backend.invoke("pid", "v1", HttpRequest({**EVENT, "ce-id": f"r1/s/{n}"}, body), timeout=60)
        pids.append(json.loads(reply.body)["outputs"]["pid"])
    print(json.dumps({"instances": pids}), flush=True)
    await asyncio.sleep(3600)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
