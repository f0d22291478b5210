"""examples/branches.py, as docs/sdk.md says: it runs in-process (map, when, first_of, a sub-workflow), is a
``knflow.dev/v2`` spec, and the drawing of its DAG shows each kind of step."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from knflow.cli._graph import draw

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "branches.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("branches_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_example_runs_in_process_and_is_a_v2_spec() -> None:
    example = load()
    assert example.gallery(prefix="p", width=32) == {"archive": "3 files", "cover": "cover@64.png"}
    spec = example.gallery.spec
    assert spec.api_version == "knflow.dev/v2"
    assert sorted({feature for _, feature in spec.flow_features}) == ["first_of", "map", "when", "workflow"]
    assert example.thumbnail.spec.api_version == "knflow.dev/v1"


def test_its_graph_draws_the_map_the_conditions_and_the_child() -> None:
    text = "\n".join(draw(load().gallery.spec.model_dump(mode="json")))
    for piece in (
        "resize (map resize over image, ≤2)",
        "when steps.listing.output.many",
        "when not steps.listing.output.many",
        "thumbnail (workflow thumbnail)",
    ):
        assert piece in text, text
