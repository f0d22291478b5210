"""The ``knflow`` command line (needs the ``cli`` extra: typer and rich).

``main`` is the console script's entry point; ``app`` is the typer application.
"""

from __future__ import annotations

from .app import app


def main() -> None:
    """Run the ``knflow`` command."""
    app()


__all__ = ["app", "main"]
