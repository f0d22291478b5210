"""Making sure the function of an action version is built and deployed before it is invoked."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from knflow.spec import ActionSpec

from ..errors import BuildFailed, InvalidRequest
from ..ports import Artifact, Builder, CodeBundle, FunctionBackend, RunStore


class Functions:
    """Builds and deploys action versions on demand, once per process (cached).

    After a restart the backend knows nothing: the first invocation of a version deploys it again
    from the stored artifact (or builds it), which also repairs drift (a function removed by hand).
    """

    def __init__(self, store: RunStore, builder: Builder, backend: FunctionBackend, project: str = "default"):
        self.store = store
        self.builder = builder
        self.backend = backend
        self.project = project
        self._deployed: set[tuple[str, str]] = set()
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    async def ensure(self, action: str, version: str) -> None:
        """Build (if needed) and deploy one action version.

        Raises:
            InvalidRequest: when the version is unknown or has no code.
            BuildFailed: when its build fails.
            DeployFailed: when the backend cannot deploy it.
        """
        key = (action, version)
        if key in self._deployed:
            return
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if key in self._deployed:
                return
            record = await self.store.get_action_version(self.project, action, version)
            if record is None:
                raise InvalidRequest(f"action {action} version {version} is not registered", field="action")
            spec = ActionSpec.model_validate(record["spec"])
            artifact = await self._artifact(record, spec)
            await self.backend.deploy(spec, artifact)
            self._deployed.add(key)

    async def artifact(self, action: str, version: str) -> Artifact:
        """The built artifact of an action version, building it first when needed (no deploy).

        Raises:
            InvalidRequest: when the version is unknown or has no code.
            BuildFailed: when its build fails.
        """
        record = await self.store.get_action_version(self.project, action, version)
        if record is None:
            raise InvalidRequest(f"action {action} version {version} is not registered", field="action")
        return await self._artifact(record, ActionSpec.model_validate(record["spec"]))

    def forget(self, action: str, version: str) -> None:
        """Deploy again on next use (after the backend lost the function)."""
        self._deployed.discard((action, version))

    async def _artifact(self, record: dict[str, Any], spec: ActionSpec) -> Artifact:
        if record.get("build_status") == "ready" and record.get("artifact"):
            artifact = Artifact(**record["artifact"])
            if artifact.code_path is None or _exists(artifact.code_path):
                return artifact
        if record.get("code") is None:
            raise InvalidRequest(f"action {spec.name} has no code: deploy it with the CLI", field="action")
        code = CodeBundle(files=unpack(record["code"]), digest=record["code_digest"])
        try:
            result = await self.builder.build(spec, code)
        except BuildFailed as exc:
            await self.store.set_build(
                self.project, spec.name, spec.version, "failed", str(exc.fields.get("logs", exc)), None, time.time()
            )
            raise
        await self.store.set_build(
            self.project, spec.name, spec.version, "ready", result.logs, vars(result.artifact), time.time()
        )
        return result.artifact


def _exists(path: str) -> bool:
    from pathlib import Path

    return Path(path).exists()


def pack(files: dict[str, bytes]) -> bytes:
    """A code bundle as one blob (a zip) for the store."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), files[name])
    return buffer.getvalue()


def unpack(blob: bytes) -> dict[str, bytes]:
    """The files of a stored code bundle.

    Raises:
        InvalidRequest: when the blob is not a zip of relative paths.
    """
    import io
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            files = {info.filename: archive.read(info) for info in archive.infolist() if not info.is_dir()}
    except zipfile.BadZipFile as exc:
        raise InvalidRequest("the code bundle is not a zip file", field="code") from exc
    for name in files:
        if name.startswith("/") or ".." in name.split("/"):
            raise InvalidRequest(f"unsafe path in the code bundle: {name!r}", field="code")
    return files
