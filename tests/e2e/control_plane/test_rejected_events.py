"""Events that start no run are kept and shown: `knflow rejected` and `GET /v1/rejected-events`, on `knflow dev`."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from .processes import ControlPlane, wait_for

FLOWS = Path(__file__).parent / "flows"
SIGNUP = {"ce-specversion": "1.0", "ce-type": "com.example.signup", "ce-source": "/site"}


def test_a_misfit_event_is_refused_at_ingest_or_listed_as_rejected(control_plane: ControlPlane) -> None:
    deployed = control_plane.cli("deploy", str(FLOWS / "signups.py"))
    assert deployed.returncode == 0, deployed.stderr
    url = control_plane.url

    # fits neither workflow: refused at once, naming the input
    refused = httpx.post(f"{url}/v1/events", headers={**SIGNUP, "ce-id": "s-0"}, json={"mail": "x"}, timeout=10)
    assert refused.status_code == 400, refused.text
    assert refused.json()["field"] == "inputs.mail"  # referral_bonus, the first by name, names it

    # fits welcome_mail only: accepted, one run, and referral_bonus's refusal is recorded
    accepted = httpx.post(f"{url}/v1/events", headers={**SIGNUP, "ce-id": "s-1"}, json={"email": "a@b.c"}, timeout=10)
    assert accepted.status_code == 202, accepted.text
    listed = wait_for(
        lambda: json.loads(control_plane.cli("rejected", "--json").stdout)["rejected_events"], 30, "a rejection"
    )
    [rejected] = listed
    assert (rejected["workflow"], rejected["event_id"], rejected["field"]) == (
        "referral_bonus",
        "s-1",
        "inputs.referrer",
    )
    assert json.loads(rejected["data"]) == {"email": "a@b.c"}

    shown = control_plane.cli("rejected")
    assert shown.returncode == 0, shown.stderr
    assert "referral_bonus  event s-1" in shown.stdout
    assert "inputs.referrer: missing required input 'referrer'" in shown.stdout
    assert all(len(line) <= 80 for line in shown.stdout.splitlines())
    only = json.loads(control_plane.cli("rejected", "--workflow", "welcome_mail", "--json").stdout)
    assert only["rejected_events"] == []
    runs = json.loads(control_plane.cli("runs", "--workflow", "welcome_mail", "--json").stdout)["runs"]
    assert len(runs) == 1
