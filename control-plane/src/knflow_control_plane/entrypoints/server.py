"""``knflow dev``: the embedded control plane in the foreground."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..observability import logs
from ..settings import SettingsError, load_settings
from .api import create_app


def serve(host: str = "127.0.0.1", port: int = 8080, state_dir: str | Path = ".knflow") -> None:
    """Run the control plane until interrupted; state (SQLite, builds, logs) stays under ``state_dir``.

    Logs go to stderr as JSON lines, or as text when ``KNFLOW_LOG_FORMAT=text`` or, by default, when
    stderr is a terminal (``knflow dev`` in a shell stays readable; under a supervisor it is JSON).

    Raises:
        SettingsError: a ``KNFLOW_*`` variable does not parse (named in the message).
    """
    import uvicorn

    os.environ.setdefault("KNFLOW_STATE_DIR", str(state_dir))
    settings = load_settings(host=host, port=port, state_dir=Path(state_dir))
    logs.configure(logs.resolve_format(os.environ.get("KNFLOW_LOG_FORMAT")))
    # log_config=None: uvicorn's own records go through the handler above, in the same format.
    app = create_app(settings, environ=os.environ)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, log_config=None)


def main() -> None:
    """Entry point reading everything from ``KNFLOW_*`` variables (a bad one: a message, exit status 2)."""
    try:
        settings = load_settings()
        serve(settings.host, settings.port, settings.state_dir)
    except SettingsError as exc:
        print(f"knflow: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
