"""A workflow's DAG drawn as text: its steps in layers (a step sits below everything it reads from),
each a box naming the step, its action and where its inputs come from, so it reads in any terminal."""

from __future__ import annotations

from typing import Any

from knflow.bindings import upstream
from knflow.conditions import steps_read

JSON = dict[str, Any]


def layers(spec: JSON) -> list[list[JSON]]:
    """The steps by depth: layer 0 reads only workflow inputs, layer n reads from layer n-1 at least."""
    steps = {s["name"]: s for s in spec.get("steps") or []}
    depth: dict[str, int] = {}

    def depth_of(name: str, seen: frozenset[str] = frozenset()) -> int:
        if name not in depth:
            parents = [p for p in _parents(steps[name]) if p in steps and p not in seen]
            depth[name] = 1 + max((depth_of(p, seen | {name}) for p in parents), default=-1)
        return depth[name]

    grouped: dict[int, list[JSON]] = {}
    for name, step in steps.items():
        grouped.setdefault(depth_of(name), []).append(step)
    return [grouped[level] for level in sorted(grouped)]


def _parents(step: JSON) -> list[str]:
    found: list[str] = []
    bindings = [*(step.get("inputs") or {}).values(), *((step.get("wait_for_event") or {}).get("match") or {}).values()]
    for binding in bindings:
        found.extend(p for p in upstream(binding) if p not in found)
    waits_for = [*(step.get("after") or []), *sorted(steps_read(step["when"]) if step.get("when") else ())]
    found.extend(p for p in waits_for if p not in found)
    return found


def _title(step: JSON) -> str:
    """The step's name and what it does: its action (mapped or not), the workflow it calls, or its wait."""
    name = step["name"]
    if step.get("map"):
        return f"{name} (map {step['action']} over {', '.join(step['map']['over'])}, ≤{step['map']['max_parallel']})"
    if step.get("workflow"):
        return f"{name} (workflow {step['workflow']['name']})"
    if step.get("sleep"):
        return f"{name} (sleep {step['sleep']['seconds']:g}s)"
    if step.get("wait_for_event"):
        return f"{name} (wait for {step['wait_for_event']['type']})"
    if step.get("approval"):
        return f"{name} (approval)"
    return name if step.get("action") in (None, "", name) else f"{name} ({step['action']})"


def _source(binding: Any) -> str:
    """Where one binding reads from, briefly: ``x`` (an input), ``fetch.image``, ``128``."""
    if not isinstance(binding, dict):
        return repr(binding)
    if "input" in binding:
        return f"input {binding['input']}"
    if "step" in binding:
        return f"{binding['step']}.{binding['output']}" if binding.get("output") else binding["step"]
    if "value" in binding:
        return repr(binding["value"])
    if "first_of" in binding:
        return "first of " + " | ".join(_source(option) for option in binding["first_of"])
    return ", ".join(sorted({*upstream(binding)})) or "{...}"


def _box(step: JSON, width: int) -> list[str]:
    title = _title(step)
    body = [f"{key} ◀ {_source(b)}" for key, b in (step.get("inputs") or {}).items()]
    if step.get("when"):
        body.append(f"when {step['when']}")
    lines = [_fit(title, width), *(_fit(line, width) for line in body)]
    inner = max(len(line) for line in lines)
    return [f"┌{'─' * (inner + 2)}┐", *(f"│ {line:<{inner}} │" for line in lines), f"└{'─' * (inner + 2)}┘"]


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def draw(spec: JSON, width: int = 80) -> list[str]:
    """The lines of the drawing, none wider than ``width``."""
    inputs = ", ".join(spec.get("inputs") or {}) or "(none)"
    lines = [_fit(f"inputs: {inputs}", width)]
    for level in layers(spec):
        lines += ["    │", "    ▼"]
        row: list[list[str]] = []
        for step in level:
            box = _box(step, width - 4)
            if row and sum(len(b[0]) + 2 for b in row) + len(box[0]) > width:
                lines += _side_by_side(row)
                row = []
            row.append(box)
        lines += _side_by_side(row)
    result = spec.get("result")
    if result is not None:
        lines += ["    │", "    ▼", _fit(f"result ◀ {_source(result)}", width)]
    return lines


def _side_by_side(boxes: list[list[str]]) -> list[str]:
    height = max(len(b) for b in boxes)
    padded = [b + [" " * len(b[0])] * (height - len(b)) for b in boxes]
    return ["  ".join(parts).rstrip() for parts in zip(*padded, strict=True)]
