"""Making sure the function of an action version is built and deployed before it is invoked."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from knflow.spec import ActionSpec

from ..domain.catalogue import ActionVersion
from ..domain.projects import function_name
from ..errors import BuildFailed, DeployFailed, InvalidRequest
from ..ports import Artifact, Builder, CatalogueStore, CodeBundle, FunctionBackend, LoadChecking, Preflighted


class Functions:
    """Builds and deploys action versions of every project on demand, once per process (cached).

    A backend knows a function by :meth:`name`: the action's name in the plane's default ``project``,
    ``{project}.{action}`` in any other, so two projects never share a function (nor its secrets).

    After a restart the backend knows nothing: the first invocation of a version deploys it again
    from the stored artifact (or builds it), which also repairs drift (a function removed by hand).
    """

    def __init__(self, store: CatalogueStore, builder: Builder, backend: FunctionBackend, project: str = "default"):
        self.store = store
        self.builder = builder
        self.backend = backend
        self.project = project  # the plane's default project
        self._deployed: set[tuple[str, str]] = set()  # (function name, version)
        self._checked: set[tuple[str, str]] = set()  # imported where they run, signature as registered
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    def name(self, project: str, action: str) -> str:
        """The name the backend knows the function of ``action`` of ``project`` by."""
        return function_name(project, action, self.project)

    async def ensure(self, project: str, action: str, version: str, *, check: bool = False) -> None:
        """Build (if needed) and deploy one action version.

        Args:
            project: the action's project.
            action: the action's name.
            version: its version.
            check: also import it where it runs and compare its signature with the registered one
                (a deploy does; an invocation does not), on backends that can (``LoadChecking``).

        Raises:
            InvalidRequest: when the version is unknown or has no code.
            BuildFailed: when its build fails.
            ActionLoadFailed: when it cannot be imported where it runs (``check``).
            DeployFailed: when the backend cannot deploy it, or its signature there is not the registered one.
        """
        key = (self.name(project, action), version)
        checked = not check or not isinstance(self.backend, LoadChecking)
        if key in self._deployed and (checked or key in self._checked):
            return
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if key in self._deployed and (checked or key in self._checked):
                return
            record = await self.store.get_action_version(project, action, version)
            if record is None:
                raise InvalidRequest(f"action {action} version {version} is not registered", field="action")
            spec = ActionSpec.model_validate(record.spec)
            artifact = await self._artifact(project, record, spec)
            spec = spec.model_copy(update={"name": key[0]})
            await self.backend.deploy(spec, artifact)
            self._deployed.add(key)
            if not checked and isinstance(self.backend, LoadChecking):
                found = await self.backend.check_load(spec, artifact)
                mismatch = signature_mismatch(spec, found)
                if mismatch:
                    raise DeployFailed(f"action {action}: {mismatch}", action=action)
                self._checked.add(key)

    async def preflight(self, project: str, action: str, version: str) -> None:
        """Have the backend's platform admit the version's function before it is built (a no-op for a
        backend that cannot tell, or a version deployed already).

        Raises:
            InvalidRequest: when the version is unknown.
            DeployFailed: when the platform refuses it.
        """
        name = self.name(project, action)
        if (name, version) in self._deployed or not isinstance(self.backend, Preflighted):
            return
        record = await self.store.get_action_version(project, action, version)
        if record is None:
            raise InvalidRequest(f"action {action} version {version} is not registered", field="action")
        await self.backend.preflight(ActionSpec.model_validate(record.spec).model_copy(update={"name": name}))

    async def artifact(self, project: str, action: str, version: str) -> Artifact:
        """The built artifact of an action version, building it first when needed (no deploy).

        Raises:
            InvalidRequest: when the version is unknown or has no code.
            BuildFailed: when its build fails.
        """
        record = await self.store.get_action_version(project, action, version)
        if record is None:
            raise InvalidRequest(f"action {action} version {version} is not registered", field="action")
        return await self._artifact(project, record, ActionSpec.model_validate(record.spec))

    def forget(self, function: str, version: str) -> None:
        """Deploy again on next use (after the backend lost the function, by its :meth:`name`)."""
        self._deployed.discard((function, version))

    async def _artifact(self, project: str, record: ActionVersion, spec: ActionSpec) -> Artifact:
        if record.build_status == "ready" and record.artifact:
            artifact = Artifact(**record.artifact)
            if usable(artifact):
                return artifact
        if record.code is None:
            raise InvalidRequest(f"action {spec.name} has no code: deploy it with the CLI", field="action")
        code = CodeBundle(files=unpack(record.code), digest=record.code_digest or "")  # stored with the code
        try:
            result = await self.builder.build(spec, code)
        except BuildFailed as exc:
            await self.store.set_build(
                project, spec.name, spec.version, "failed", str(exc.fields.get("logs", exc)), None, time.time()
            )
            raise
        await self.store.set_build(
            project, spec.name, spec.version, "ready", result.logs, vars(result.artifact), time.time()
        )
        return result.artifact


def signature_mismatch(spec: ActionSpec, found: dict[str, Any]) -> str | None:
    """How the signature an action has where it runs differs from the registered one, or None.

    The CLI traces a workflow where it is written, maybe without the action's requirements installed
    (their types then read as "any"); what runs is the code imported beside them, and the registered
    inputs and output must be its own.
    """
    registered = spec.model_dump(mode="json")
    inputs, there = registered["inputs"], found.get("inputs") or {}
    hint = "; annotate it with types installed where you deploy from, or install its requirements there"
    for name in sorted(set(inputs) | set(there)):
        if name not in there:
            return f"it takes no input {name!r} where it runs, though the traced signature has one{hint}"
        if name not in inputs:
            return f"it takes an input {name!r} where it runs that the traced signature lacks{hint}"
        if inputs[name] != there[name]:
            here_type, run_type = _describe(inputs[name].get("type")), _describe(there[name].get("type"))
            if here_type != run_type:
                return f"input {name!r} is {run_type} where it runs but {here_type} as traced{hint}"
            return f"input {name!r} has another default or requiredness where it runs than as traced{hint}"
    if registered["output"] != found.get("output"):
        run_type, here_type = _describe(found.get("output")), _describe(registered["output"])
        return f"it returns {run_type} where it runs but {here_type} as traced{hint}"
    for key in ("var_keyword", "is_async"):
        if registered[key] != found.get(key):
            return f"its {key} is {found.get(key)} where it runs, {registered[key]} as traced"
    return None


def _describe(schema: Any) -> str:
    """A JSON Schema in a few words: its type, "any" for the empty schema, else its JSON (cut short)."""
    import json

    if schema == {}:
        return "any"
    if isinstance(schema, dict) and set(schema) == {"type"}:
        return str(schema["type"])
    text = json.dumps(schema, sort_keys=True)
    return text if len(text) <= 120 else text[:117] + "..."


def usable(artifact: Artifact) -> bool:
    """Whether a stored artifact can be deployed as it is, or must be built again from the stored code.

    A relative path (stored by releases that kept the state dir relative) meant the control plane's
    working directory of that day, never the function's: such an artifact is rebuilt (the code is
    written again under the absolute builds folder; a venv of the same requirements is reused).
    """
    import os

    code = artifact.code_path
    if code is not None and not (os.path.isabs(code) and os.path.exists(code)):
        return False
    return artifact.kind != "venv" or os.path.isabs(artifact.location)


def check_code_paths(files: dict[str, bytes]) -> None:
    """Every path of a code bundle is a plain relative POSIX path inside it.

    Raises:
        InvalidRequest: naming the first path that is absolute, climbs out (``..``), uses backslashes,
            or has an empty part.
    """
    for name in files:
        parts = name.split("/")
        odd = "\\" in name or "\x00" in name or name.startswith("/")
        if odd or any(part in ("", ".", "..") for part in parts):
            raise InvalidRequest(
                f"code path {name!r} must be a relative path inside the bundle (no '..', no leading '/', "
                "no backslash, no empty part)",
                field=f"code.files.{name}",
            )


def pack(files: dict[str, bytes]) -> bytes:
    """A code bundle as one blob (a zip) for the store.

    Raises:
        InvalidRequest: naming a path that is not a plain relative path inside the bundle.
    """
    import io
    import zipfile

    check_code_paths(files)

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
