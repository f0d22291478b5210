"""Per-action options, checked when the decorator runs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._durations import check_cpu, check_memory, parse_duration
from ._errors import SpecError

DEFAULT_TIMEOUT_S = 300.0
DEFAULT_CONCURRENCY = 16


@dataclass(frozen=True)
class ActionOptions:
    """How an action is built, scaled and retried.

    Attributes:
        requirements: pip requirement strings installed into the action's environment.
        cpu: a Kubernetes CPU quantity (``"500m"``), or None for the platform default.
        memory: a Kubernetes memory quantity (``"512Mi"``).
        gpu: number of GPUs (``nvidia.com/gpu``).
        timeout: seconds an attempt may take before it is failed.
        retries: attempts after the first one for errors other than ``ActionError``.
        backoff: first retry delay in seconds; doubles each retry, with full jitter.
        backoff_max: cap of the retry delay in seconds.
        concurrency: invocations one instance serves at once.
        max_instances: instances of the function at most (scale-out limit).
        env: environment variables set in the function.
        secrets: names of secrets mounted into the function as environment variables.
        outputs: declared output names, when the action declares them.
    """

    requirements: tuple[str, ...] = ()
    cpu: str | None = None
    memory: str | None = None
    gpu: int = 0
    timeout: float = DEFAULT_TIMEOUT_S
    retries: int = 0
    backoff: float = 1.0
    backoff_max: float = 60.0
    concurrency: int = DEFAULT_CONCURRENCY
    max_instances: int = 4
    env: tuple[tuple[str, str], ...] = ()
    secrets: tuple[str, ...] = ()
    outputs: tuple[str, ...] | None = field(default=None)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form (stable key order) for specs and hashing."""
        return {
            "requirements": list(self.requirements),
            "cpu": self.cpu,
            "memory": self.memory,
            "gpu": self.gpu,
            "timeout": self.timeout,
            "retries": self.retries,
            "backoff": self.backoff,
            "backoff_max": self.backoff_max,
            "concurrency": self.concurrency,
            "max_instances": self.max_instances,
            "env": dict(self.env),
            "secrets": list(self.secrets),
            "outputs": list(self.outputs) if self.outputs is not None else None,
        }


def _positive_int(value: Any, *, field: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SpecError(f"expected an integer >= {minimum}, got {value!r}", path=field)
    return value


def make_options(
    *,
    where: str,
    requirements: Iterable[str] = (),
    cpu: str | None = None,
    memory: str | None = None,
    gpu: int = 0,
    timeout: str | float = DEFAULT_TIMEOUT_S,
    retries: int = 0,
    backoff: str | float = 1.0,
    backoff_max: str | float = 60.0,
    concurrency: int = DEFAULT_CONCURRENCY,
    max_instances: int = 4,
    env: Mapping[str, str] | None = None,
    secrets: Iterable[str] = (),
    outputs: Iterable[str] | None = None,
) -> ActionOptions:
    """Checked options; ``where`` prefixes the path of any error (e.g. ``action resize``).

    Raises:
        SpecError: naming the option that is wrong.
    """
    if isinstance(requirements, str):
        raise SpecError("expected a list of requirement strings", path=f"{where}.requirements")
    reqs = tuple(sorted(str(r).strip() for r in requirements if str(r).strip()))
    timeout_s = parse_duration(timeout, field=f"{where}.timeout")
    if timeout_s <= 0:
        raise SpecError("the timeout must be positive", path=f"{where}.timeout")
    return ActionOptions(
        requirements=reqs,
        cpu=check_cpu(cpu, field=f"{where}.cpu") if cpu is not None else None,
        memory=check_memory(memory, field=f"{where}.memory") if memory is not None else None,
        gpu=_positive_int(gpu, field=f"{where}.gpu", minimum=0),
        timeout=timeout_s,
        retries=_positive_int(retries, field=f"{where}.retries", minimum=0),
        backoff=parse_duration(backoff, field=f"{where}.backoff"),
        backoff_max=parse_duration(backoff_max, field=f"{where}.backoff_max"),
        concurrency=_positive_int(concurrency, field=f"{where}.concurrency", minimum=1),
        max_instances=_positive_int(max_instances, field=f"{where}.max_instances", minimum=1),
        env=tuple(sorted((str(k), str(v)) for k, v in (env or {}).items())),
        secrets=tuple(sorted(str(s) for s in secrets)),
        outputs=tuple(outputs) if outputs is not None else None,
    )
