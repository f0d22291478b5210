"""The steps table of ``knflow get``/``run``: a step is named as a person reads it."""

from __future__ import annotations

from rich.console import Console

from knflow.cli._render import steps_table


def test_a_step_without_an_action_is_its_name_alone_and_another_names_its_action() -> None:
    run = {
        "steps": [
            {"name": "approval", "action": "", "status": "waiting", "attempts": []},  # an approval, a sleep
            {"name": "first", "action": "double", "status": "succeeded", "attempts": [{}]},
            {"name": "double", "action": "double", "status": "pending", "attempts": []},
        ]
    }
    console = Console(width=80, record=True)
    console.print(steps_table(run))
    names = [line.split()[0:2] for line in console.export_text().splitlines()[1:]]
    assert names[0][0] == "approval" and names[0][1] != "()"
    assert names[1] == ["first", "(double)"]
    assert names[2][0] == "double" and names[2][1] != "(double)"
