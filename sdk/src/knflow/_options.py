"""Per-action options, checked when the decorator runs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._durations import check_cpu, check_memory, parse_duration
from ._errors import SpecError

DEFAULT_TIMEOUT_S = 300.0
DEFAULT_CONCURRENCY = 16
SCALE_METRICS = ("concurrency", "rps")
#: Knative's bound on ``scale-down-delay``
MAX_SCALE_DOWN_DELAY_S = 3600.0
#: the autoscaling options, kept out of the spec (and the version hash) while unset, so that actions
#: written before they existed keep their versions
AUTOSCALING = ("min_scale", "scale_metric", "target", "scale_down_delay", "scale_to_zero_retention")
#: options added with dynamic flows (``knflow.dev/v2``), kept out of the spec while unset likewise
FLOWS = ("max_concurrency",)


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
        min_scale: instances kept when idle (0: scale to zero); None for the platform's default.
        scale_metric: what the autoscaler tracks, ``"concurrency"`` or ``"rps"``.
        target: the autoscaling target per instance (in-flight requests, or requests per second);
            None: the action's ``concurrency``.
        scale_down_delay: seconds of lower load before instances are removed (at most 1 hour).
        scale_to_zero_retention: seconds the last instance stays after the function scaled to zero.
        max_concurrency: steps calling this action in progress at once across all runs (the others
            queue in order); None: no limit beyond the function's own scaling.
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
    min_scale: int | None = None
    scale_metric: str | None = None
    target: int | None = None
    scale_down_delay: float | None = None
    scale_to_zero_retention: float | None = None
    max_concurrency: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form (stable key order) for specs and hashing; autoscaling options only when set."""
        scaling = {name: getattr(self, name) for name in (*AUTOSCALING, *FLOWS) if getattr(self, name) is not None}
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
            **scaling,
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
    min_scale: int | None = None,
    scale_metric: str | None = None,
    target: int | None = None,
    scale_down_delay: str | float | None = None,
    scale_to_zero_retention: str | float | None = None,
    max_concurrency: int | None = None,
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
    max_instances = _positive_int(max_instances, field=f"{where}.max_instances", minimum=1)
    if min_scale is not None:
        min_scale = _positive_int(min_scale, field=f"{where}.min_scale", minimum=0)
        if min_scale > max_instances:
            raise SpecError(f"min_scale {min_scale} is over max_instances {max_instances}", path=f"{where}.min_scale")
    if scale_metric is not None and scale_metric not in SCALE_METRICS:
        raise SpecError(
            f"expected one of {', '.join(SCALE_METRICS)}, got {scale_metric!r}", path=f"{where}.scale_metric"
        )
    delay = _duration(scale_down_delay, field=f"{where}.scale_down_delay")
    if delay is not None and delay > MAX_SCALE_DOWN_DELAY_S:
        raise SpecError(f"at most 1h (Knative's bound), got {scale_down_delay!r}", path=f"{where}.scale_down_delay")
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
        max_instances=max_instances,
        env=tuple(sorted((str(k), str(v)) for k, v in (env or {}).items())),
        secrets=tuple(sorted(str(s) for s in secrets)),
        outputs=tuple(outputs) if outputs is not None else None,
        min_scale=min_scale,
        scale_metric=scale_metric,
        target=_positive_int(target, field=f"{where}.target", minimum=1) if target is not None else None,
        scale_down_delay=delay,
        scale_to_zero_retention=_duration(scale_to_zero_retention, field=f"{where}.scale_to_zero_retention"),
        max_concurrency=None
        if max_concurrency is None
        else _positive_int(max_concurrency, field=f"{where}.max_concurrency", minimum=1),
    )


def _duration(value: str | float | None, *, field: str) -> float | None:
    return None if value is None else parse_duration(value, field=field)
