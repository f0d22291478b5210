"""Files of runs: presigned URLs into each invoke event, checked file outputs with their lineage, links.

Functions hold no storage credentials (DESIGN.md section 4). Before an attempt is invoked, every file
referenced by its inputs gets a presigned GET URL (after checking the file is still there), and the
attempt gets presigned PUT URLs for the files it may write: one per output that may be a ``File``
(``uploads``) and a few spare ones for files nested in other outputs (``spare``). When the function
replies, every new file it reports is checked against the store (it was uploaded, under one of its own
keys, within the size limit) and recorded with the run, step and attempt that wrote it; large outputs
and logs are offloaded (``payloads.py``) before the outcome is recorded.
"""

from __future__ import annotations

import asyncio
import math
import mimetypes
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol, cast

from knflow import File, wire
from knflow._file import FILE_MARKER
from knflow_runtime.contract import decode_result
from knflow_runtime.errors import MalformedEvent

from ..domain.files import (
    FileRecord,
    attempt_prefix,
    file_refs,
    may_hold_files,
    named_slots,
    payload_key,
    payload_keys,
    replace_refs,
    segment,
    upload_key,
)
from ..domain.model import Outcome
from ..domain.records import Claim
from ..errors import Conflict, InvalidRequest, PayloadTooLarge
from ..ports import CatalogueStore, FileRecords, HttpReply
from ..ports.objects import DEFAULT_CONTENT_TYPE, ObjectInfo, ObjectNotFound, ObjectStore
from .file_scope import of_run, owned
from .outcomes import CheckedReply
from .payloads import Payloads
from .ttl_cache import TtlCache


class FilesStore(FileRecords, CatalogueStore, Protocol):
    """What the run files service reads and writes: file records, and action versions (their outputs' types)."""


_FILE_BYTES = f'"{FILE_MARKER}"'.encode()
_SCHEMA_CACHE = 512


class MissingFile(InvalidRequest):
    """An input file does not exist (never uploaded, deleted, or expired by the retention policy).

    Attributes:
        fields: ``step``, ``field`` (the input), ``key``.
    """


@dataclass(frozen=True)
class FileSettings:
    """How files are handled.

    Attributes:
        project: the project whose files these are.
        url_ttl: lifetime of presigned URLs, seconds.
        max_file_bytes: largest file an attempt may write.
        upload_slots: spare upload URLs per attempt (files nested in outputs).
        payload_threshold: largest output or logs kept inline in the run record, bytes.
    """

    project: str = "default"
    url_ttl: int = 3600
    max_file_bytes: int = 5 * 1024**3
    upload_slots: int = 4
    payload_threshold: int = 256 * 1024


class RunFiles:
    """The files of runs: URLs for invocations, checked outputs, lineage records, download links."""

    def __init__(
        self,
        objects: ObjectStore,
        store: FilesStore,
        settings: FileSettings,
        clock: Callable[[], float] = time.time,
    ):
        self.objects = objects
        self.store = store
        self.settings = settings
        self.payloads = Payloads(objects, settings.payload_threshold)
        self._clock = clock
        # (action, version) -> named upload slots (None: no file outputs); immutable, loaded once at a time
        self._slots: TtlCache[tuple[str, str, str], list[str] | None] = TtlCache(math.inf, size=_SCHEMA_CACHE)

    # -- uploads and links --------------------------------------------------------------------
    async def upload(
        self, data: AsyncIterator[bytes], name: str, content_type: str | None, field: str, project: str | None = None
    ) -> dict[str, Any]:
        """Store an uploaded file (streamed) of ``project`` (the default one: None) and return its reference, to
        be passed as a workflow input.

        Raises:
            FileTooLarge: the upload is over the file size limit (nothing is kept).
        """
        name = name or "file"
        key = upload_key(secrets.token_hex(8), name)
        content_type = content_type or mimetypes.guess_type(name)[0] or DEFAULT_CONTENT_TYPE
        info = await self.objects.put(key, _limited(data, self.settings.max_file_bytes, field), content_type)
        now = self._clock()
        record = FileRecord(
            key,
            project or self.settings.project,
            None,
            None,
            None,
            field,
            name,
            info.content_type,
            info.size,
            info.sha256,
            now,
        )
        await self.store.record_files([record])
        return File(key=key, name=name, content_type=info.content_type, size=info.size).to_wire()

    async def run_files(self, run_id: str, inputs: Any, project: str | None = None) -> list[dict[str, Any]]:
        """The files of a run of ``project`` with their lineage and download links: those its attempts wrote,
        and those its inputs name (uploads, files of other runs)."""
        project = project or self.settings.project
        records = {record.key: record for record in await self.store.list_files(run_id, project)}
        named = [str(ref.get("key")) for _, ref in file_refs(await self.payloads.resolve(inputs))]
        for key in dict.fromkeys(named):
            if key not in records and (record := await self.store.get_file(key, project)) is not None:
                records[key] = record
        ordered = sorted(records.values(), key=lambda record: (record.created_at, record.key))
        links = await asyncio.gather(*(self.link(r.key) for r in ordered if r.expired_at is None))
        urls = iter(links)
        return [_view(r, next(urls) if r.expired_at is None else None) for r in ordered]

    async def input_keys(self, inputs: Any) -> set[str]:
        """The keys of the files a run's inputs name (uploads, files of other runs)."""
        return {str(ref.get("key")) for _, ref in file_refs(await self.payloads.resolve(inputs))}

    async def checked_link(self, record: FileRecord) -> str:
        """A download URL of a recorded file, once the store's object is still the one recorded (size, and
        SHA-256 where both know it): an object replaced behind the record is not handed out as it.

        Raises:
            Conflict: the object changed since it was recorded (``field``: ``key``).
            ObjectNotFound: it is gone.
        """
        info = await self.objects.info(record.key)
        if info.size != record.size or (record.sha256 and info.sha256 and info.sha256 != record.sha256):
            raise Conflict(
                f"file {record.key!r} changed after it was recorded ({record.size} bytes, now {info.size})",
                field="key",
            )
        return await self.link(record.key)

    async def link(self, key: str) -> str:
        """A presigned download URL of ``key``, valid for the URL lifetime."""
        return await self.objects.presign_get(key, self.settings.url_ttl)

    async def present(self, value: Any) -> Any:
        """``value`` as a client sees it: offloaded payloads fetched back, a download ``url`` in each file."""
        value = await self.payloads.resolve(value)
        keys = list(dict.fromkeys(str(ref.get("key")) for _, ref in file_refs(value)))
        if not keys:
            return value
        urls = dict(zip(keys, await asyncio.gather(*(self.link(key) for key in keys)), strict=True))
        return replace_refs(value, lambda ref: {FILE_MARKER: {**ref, "url": urls[str(ref.get("key"))]}}, FILE_MARKER)

    async def present_run(self, run: dict[str, Any]) -> dict[str, Any]:
        """A run's JSON (``run_json``) with offloaded payloads fetched back, links in its result, and
        ``files``: how many files its attempts wrote and when the retention policy deleted them, if it did."""
        records = await self.store.list_files(str(run.get("id")), str(run.get("project") or self.settings.project))
        expired = [r.expired_at for r in records if r.expired_at is not None]
        run["files"] = {"count": len(records), "expired_at": max(expired) if expired else None}
        resolve = self.payloads.resolve
        run["inputs"] = await resolve(run.get("inputs"))
        run["result"] = await self.present(run.get("result"))
        for step in run.get("steps", []):
            await self.present_step(step)
        return run

    async def present_step(self, step: dict[str, Any]) -> dict[str, Any]:
        """A step's JSON (``step_json``) with its and its attempts' offloaded payloads and logs fetched back."""
        resolve = self.payloads.resolve
        step["outputs"] = await resolve(step.get("outputs"))
        for attempt in step.get("attempts", []):
            attempt["inputs"] = await resolve(attempt.get("inputs"))
            attempt["outputs"] = await resolve(attempt.get("outputs"))
            attempt["logs"] = await self.payloads.resolve_logs(attempt.get("logs") or "")
        return step

    # -- invocations --------------------------------------------------------------------------
    async def invoke_data(self, claim: Claim, data: wire.InvokeData) -> wire.InvokeData:
        """``data`` with offloaded inputs fetched back and the attempt's presigned URLs added.

        Raises:
            MissingFile: an input file does not exist, or is not one of the run's project (the step fails,
                naming the input).
            ObjectStoreUnavailable: the store cannot be reached (the attempt is retried).
        """
        inputs = data["inputs"]
        if payload_keys(inputs):
            inputs = await self.payloads.resolve(inputs)
            data["inputs"] = inputs
        refs = list(file_refs(inputs))
        if refs:
            data["files"] = await self._gets(claim, refs)
        slots = await self._named_slots(claim.project, claim.action, claim.version)
        if slots is not None:
            prefix = attempt_prefix(claim.run_id, claim.step, claim.number)
            ttl, limit = self.settings.url_ttl, self.settings.max_file_bytes
            names = dict.fromkeys(slots)
            keys = {name: f"{prefix}{segment(name, f'output{i}')}" for i, name in enumerate(names)}
            spare = [f"{prefix}~{i}" for i in range(self.settings.upload_slots)]
            # Presigning is local computation on both stores: awaited in turn, no task per URL (a gather
            # of tasks cost as much as the rest of the hot path's bookkeeping, docs/performance.md).
            puts = [await self.objects.presign_put(key, ttl, max_size=limit) for key in [*keys.values(), *spare]]
            data["uploads"] = {
                name: {"put": put, "key": key, "max_size": limit}
                for (name, key), put in zip(keys.items(), puts[: len(keys)], strict=True)
            }
            data["spare"] = [
                {"put": put, "key": key, "max_size": limit} for key, put in zip(spare, puts[len(keys) :], strict=True)
            ]
        return data

    async def settle(self, claim: Claim, reply: HttpReply) -> HttpReply:
        """The function's reply, with the files it wrote checked and recorded and large values offloaded.

        A reply with no file and nothing large is returned as it came (the common case costs one scan
        of the body). Otherwise the outcome is settled here and carried by a :class:`CheckedReply`.
        """
        small = len(reply.body) <= self.settings.payload_threshold
        if reply.status != 200 or (small and _FILE_BYTES not in reply.body):
            return reply
        try:
            kind, data, _ = decode_result(reply.headers, reply.body)
        except MalformedEvent:
            return reply  # outcome_of reports it
        where = (claim.run_id, claim.step, str(claim.number))
        logs = await self.payloads.offload_logs(str(data.get("logs", "")), payload_key(*where, "logs", suffix=".txt"))
        if kind != wire.SUCCEEDED:
            error = dict(cast("wire.FailedData", data)["error"])
            return CheckedReply(reply.status, reply.headers, reply.body, Outcome.failed(error, logs))
        outputs = dict(cast("wire.SucceededData", data)["outputs"])
        try:
            outputs = await self._check_outputs(claim, outputs)
        except OutputFileError as exc:
            error = {"type": "OutputError", "message": str(exc), "code": None, "retryable": False, "traceback": None}
            return CheckedReply(reply.status, reply.headers, reply.body, Outcome.failed(error, logs))
        for name, value in outputs.items():
            outputs[name] = await self.payloads.offload(value, payload_key(*where, "outputs", name))
        return CheckedReply(reply.status, reply.headers, reply.body, Outcome.succeeded(outputs, logs))

    async def _gets(self, claim: Claim, refs: list[tuple[str, dict[str, Any]]]) -> dict[str, wire.FileGet]:
        fields: dict[str, str] = {}
        for path, ref in refs:
            key = ref.get("key")
            if not isinstance(key, str) or not key:
                raise MissingFile(
                    f"step {claim.step!r} input {path!r}: the file reference has no key", step=claim.step, field=path
                )
            fields.setdefault(key, path)
        await asyncio.gather(*(self._check_exists(claim, key, path) for key, path in fields.items()))
        urls = await asyncio.gather(*(self.objects.presign_get(key, self.settings.url_ttl) for key in fields))
        return {key: {"get": url} for key, url in zip(fields, urls, strict=True)}

    async def _check_exists(self, claim: Claim, key: str, path: str) -> None:
        # Another project's file is missing to this run, in the same words as one that never existed.
        if not of_run(key, claim.run_id) and not await owned(self.store, key, claim.project):
            raise MissingFile(
                f"step {claim.step!r} input {path!r}: file {key!r} does not exist", step=claim.step, field=path, key=key
            )
        try:
            await self.objects.info(key)
        except (ObjectNotFound, InvalidRequest):
            record = await self.store.get_file(key, claim.project)
            why = "does not exist"
            if record is not None and record.expired_at is not None:
                when = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(record.expired_at))
                why = f"was deleted by the file retention policy at {when}"
            raise MissingFile(
                f"step {claim.step!r} input {path!r}: file {key!r} {why}", step=claim.step, field=path, key=key
            ) from None

    async def _named_slots(self, project: str, action: str, version: str) -> list[str] | None:
        return await self._slots.get((project, action, version), lambda: self._load_slots(project, action, version))

    async def _load_slots(self, project: str, action: str, version: str) -> list[str] | None:
        record = await self.store.get_action_version(project, action, version)
        spec = record.spec if record is not None else {}
        declared = (spec.get("options") or {}).get("outputs")
        schema = spec.get("output") or {}
        slots: list[str] | None = named_slots(schema, list(declared) if declared is not None else None)
        if not slots and not may_hold_files(schema):
            slots = None
        return slots

    async def _check_outputs(self, claim: Claim, outputs: dict[str, Any]) -> dict[str, Any]:
        prefix = attempt_prefix(claim.run_id, claim.step, claim.number)
        passed = {str(ref.get("key")) for _, ref in file_refs(claim.inputs)}
        found: dict[str, tuple[str, dict[str, Any]]] = {}
        for path, ref in file_refs(outputs):
            key = str(ref.get("key"))
            if key in passed or key in found:
                continue
            if not key.startswith(prefix):
                raise OutputFileError(
                    f"step {claim.step!r} output {path!r}: file {key!r} is neither one of the step's inputs "
                    "nor a file it uploaded"
                )
            found[key] = (path, ref)
        infos = await asyncio.gather(*(self._uploaded(claim, key, path) for key, (path, _) in found.items()))
        now = self._clock()
        records = []
        for info, (key, (path, ref)) in zip(infos, found.items(), strict=True):
            ref.update(size=info.size, content_type=info.content_type)  # the store's word, not the function's
            name = str(ref.get("name") or key.rsplit("/", 1)[-1])
            records.append(
                FileRecord(
                    key, claim.project, claim.run_id, claim.step, claim.number, path, name,
                    info.content_type, info.size, info.sha256, now,
                )
            )  # fmt: skip
        await self.store.record_files(records)
        return outputs

    async def _uploaded(self, claim: Claim, key: str, path: str) -> ObjectInfo:
        try:
            info = await self.objects.info(key)
        except ObjectNotFound:
            raise OutputFileError(f"step {claim.step!r} output {path!r}: file {key!r} was never uploaded") from None
        if info.size > self.settings.max_file_bytes:
            await self.objects.delete(key)  # S3 cannot refuse it up front: a presigned PUT carries no limit
            raise OutputFileError(
                f"step {claim.step!r} output {path!r}: {info.size} bytes is over the file size limit of "
                f"{self.settings.max_file_bytes} bytes"
            )
        return info


class OutputFileError(Exception):
    """A file output of an attempt is not acceptable: the step fails without retry."""


class FileTooLarge(PayloadTooLarge):
    """The uploaded file is over the file size limit.

    Attributes:
        fields: ``field`` (the input), ``max_size`` (bytes).
    """


async def _limited(data: AsyncIterator[bytes], limit: int, field: str) -> AsyncIterator[bytes]:
    seen = 0
    async for chunk in data:
        seen += len(chunk)
        if seen > limit:
            raise FileTooLarge(f"file {field!r} is over the limit of {limit} bytes", field=field, max_size=limit)
        yield chunk


def _view(record: FileRecord, url: str | None) -> dict[str, Any]:
    return {
        "key": record.key,
        "name": record.name,
        "content_type": record.content_type,
        "size": record.size,
        "sha256": record.sha256,
        "run_id": record.run_id,
        "step": record.step,
        "attempt": record.attempt,
        "field": record.field,
        "created_at": record.created_at,
        "expired_at": record.expired_at,
        "url": url,
    }
