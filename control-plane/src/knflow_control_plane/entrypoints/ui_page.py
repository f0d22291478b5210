"""``/ui``: the web UI, a single-page app built from ``control-plane/ui/`` into ``ui_dist/`` (docs/ui.md).

The page and its assets are static and hold no secret, so they are served outside API-key auth; every
call the page makes goes to ``/v1`` with the key the user typed. Client routes (``/ui/runs/ID``...) get
the same ``index.html``: the app reads the path itself.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

#: Where ``make install`` (``npm run build`` in ``control-plane/ui``) writes the built app.
DIST = Path(__file__).resolve().parent.parent / "ui_dist"

_NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>knflow</title>
<p>The knflow web UI is not built into this installation. From a clone of knflow, run
<code>make install</code> (it needs <code>npm</code>); see docs/ui.md. The API is at <a href="/docs">/docs</a>.</p>"""


def install(app: FastAPI, dist: Path = DIST) -> None:
    """Serve the UI at ``/ui`` (``/`` redirects there); a clear page when it was not built."""
    index = dist / "index.html"
    if (dist / "assets").is_dir():
        app.mount("/ui/assets", StaticFiles(directory=dist / "assets"), name="ui-assets")

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/ui/")

    @app.get("/ui", include_in_schema=False)
    @app.get("/ui/{path:path}", include_in_schema=False)
    async def page(path: str = "") -> Response:
        if not index.is_file():
            return HTMLResponse(_NOT_BUILT, status_code=503)
        # The page names its assets by content hash: it must be revalidated, they never change.
        return FileResponse(index, media_type="text/html", headers={"cache-control": "no-cache"})
