"""With auth on, ``/metrics`` needs a key like the API (workflow names, run counts and queue depths are the
project's business); health checks stay open for probes."""

from __future__ import annotations

from pathlib import Path

import httpx

from .processes import ControlPlane


def test_metrics_need_a_key_when_auth_is_on(tmp_path: Path) -> None:
    cp = ControlPlane(tmp_path / ".knflow", env={"KNFLOW_AUTH": "true", "KNFLOW_BOOTSTRAP_KEY": "boot-secret"}).start()
    try:
        refused = httpx.get(f"{cp.url}/metrics")
        assert refused.status_code == 401, refused.text[:300]
        assert refused.json()["field"] == "authorization"
        scraped = httpx.get(f"{cp.url}/metrics", headers={"Authorization": "Bearer boot-secret"})
        assert scraped.status_code == 200 and "knflow_" in scraped.text
        assert httpx.get(f"{cp.url}/health/liveness").status_code == 200
    finally:
        cp.stop()


def test_metrics_stay_open_when_auth_is_off(tmp_path: Path) -> None:
    cp = ControlPlane(tmp_path / ".knflow").start()
    try:
        assert httpx.get(f"{cp.url}/metrics").status_code == 200
    finally:
        cp.stop()
