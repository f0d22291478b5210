"""``knflow dev``: the embedded control plane in the foreground."""

from __future__ import annotations

import os
from pathlib import Path

from ..observability import logs
from ..settings import Settings
from .api import create_app


def serve(host: str = "127.0.0.1", port: int = 8080, state_dir: str | Path = ".knflow") -> None:
    """Run the control plane until interrupted; state (SQLite, builds, logs) stays under ``state_dir``.

    Logs go to stderr as JSON lines, or as text when ``KNFLOW_LOG_FORMAT=text`` or, by default, when
    stderr is a terminal (``knflow dev`` in a shell stays readable; under a supervisor it is JSON).
    """
    import uvicorn

    os.environ.setdefault("KNFLOW_STATE_DIR", str(state_dir))
    settings = Settings(host=host, port=port, state_dir=Path(state_dir))
    logs.configure(logs.resolve_format(os.environ.get("KNFLOW_LOG_FORMAT")))
    # log_config=None: uvicorn's own records go through the handler above, in the same format.
    app = create_app(settings, environ=os.environ)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, log_config=None)


def main() -> None:
    """Entry point reading everything from ``KNFLOW_*`` variables."""
    settings = Settings()
    serve(settings.host, settings.port, settings.state_dir)


if __name__ == "__main__":
    main()
