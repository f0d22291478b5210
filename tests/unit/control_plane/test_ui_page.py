"""``/ui``: the built page at every client route, its assets, and a clear page when it was not built."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI

from knflow_control_plane.entrypoints import ui_page


def app_serving(dist: Path) -> httpx.AsyncClient:
    app = FastAPI()
    ui_page.install(app, dist)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ui")


async def test_every_client_route_gets_the_page_and_assets_are_served(tmp_path: Path) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text('<div id="app"></div>')
    (tmp_path / "assets" / "app-1.js").write_text("console.log(1)")
    async with app_serving(tmp_path) as client:
        for path in ("/ui", "/ui/", "/ui/runs/r1", "/ui/workflows/w?version=v"):
            page = await client.get(path)
            assert page.status_code == 200 and page.text == '<div id="app"></div>', path
            assert page.headers["cache-control"] == "no-cache"
        assert (await client.get("/ui/assets/app-1.js")).text == "console.log(1)"
        assert (await client.get("/ui/assets/missing.js")).status_code == 404
        assert (await client.get("/")).headers["location"] == "/ui/"


async def test_an_installation_without_the_build_says_how_to_build_it(tmp_path: Path) -> None:
    async with app_serving(tmp_path / "absent") as client:
        page = await client.get("/ui/runs")
    assert page.status_code == 503
    assert "make install" in page.text and "docs/ui.md" in page.text
