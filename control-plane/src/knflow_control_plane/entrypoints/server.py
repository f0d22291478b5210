"""``knflow dev``: the embedded control plane in the foreground."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..settings import Settings
from .api import create_app


def serve(host: str = "127.0.0.1", port: int = 8080, state_dir: str | Path = ".knflow") -> None:
    """Run the control plane until interrupted; state (SQLite, builds, logs) stays under ``state_dir``."""
    import uvicorn

    os.environ.setdefault("KNFLOW_STATE_DIR", str(state_dir))
    settings = Settings(host=host, port=port, state_dir=Path(state_dir))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning", access_log=False)


def main() -> None:
    """Entry point reading everything from ``KNFLOW_*`` variables."""
    settings = Settings()
    serve(settings.host, settings.port, settings.state_dir)


if __name__ == "__main__":
    main()
