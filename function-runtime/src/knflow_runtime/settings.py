"""The runtime's settings, read once from the command line and the environment.

A frozen dataclass and ``argparse`` rather than pydantic-settings: this is on every cold start, and
importing pydantic would cost more than everything else the runtime does before it is ready. A container
starts the runtime without arguments (its settings are variables), and then ``argparse`` is not even
imported: with ``gettext`` and the ``shutil`` its help formatter loads, it is ~4% of a start's instructions.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import SettingsError

if TYPE_CHECKING:
    import argparse

DEFAULT_PORT = 8080
DEFAULT_MAX_BODY = 64 * 1024 * 1024
DEFAULT_MAX_LOGS = 1024 * 1024
DEFAULT_DRAIN_SECONDS = 30.0


@dataclass(frozen=True)
class Settings:
    """How one runtime process serves its action.

    Attributes:
        action: ``module:function`` of the action to serve.
        host: the address to listen on.
        port: the TCP port; 0 picks a free one (printed in the ready line).
        code_path: a directory prepended to ``sys.path`` before the action is imported.
        concurrency: invocations run at once; None means the action's ``options.concurrency``.
        max_body: the largest request body accepted, in bytes (larger ones get 413).
        max_logs: the most log characters kept per invocation (more are cut with a marker).
        drain_seconds: how long a SIGTERM waits for in-flight invocations and replies.
        log_level: the level of the root logger while serving (``INFO`` unless set).
        check: import the action, print its signature and exit, without serving (``KNFLOW_CHECK=1``):
            how a backend proves at deploy that the action loads where it will run.
    """

    action: str
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    code_path: str | None = None
    concurrency: int | None = None
    max_body: int = DEFAULT_MAX_BODY
    max_logs: int = DEFAULT_MAX_LOGS
    drain_seconds: float = DEFAULT_DRAIN_SECONDS
    log_level: str = "INFO"
    check: bool = False

    @classmethod
    def load(cls, argv: Sequence[str], environ: Mapping[str, str]) -> Settings:
        """Settings from command-line options, falling back to environment variables.

        Args:
            argv: the arguments after the program name.
            environ: the environment (``os.environ`` in production).

        Raises:
            SettingsError: naming the option or variable that is missing or invalid.
        """
        args = _parser().parse_args(list(argv), namespace=_Options()) if argv else _Options()
        action = args.action or environ.get("KNFLOW_ACTION", "")
        if ":" not in action:
            raise SettingsError(f"--action/KNFLOW_ACTION must be 'module:function', got {action!r}")
        # On Knative (K_SERVICE is set) the queue-proxy reaches the container over its pod IP.
        default_host = "0.0.0.0" if environ.get("K_SERVICE") else "127.0.0.1"  # noqa: S104
        log_level = environ.get("KNFLOW_LOG_LEVEL", "INFO").upper()
        if not isinstance(logging.getLevelName(log_level), int):
            raise SettingsError(f"KNFLOW_LOG_LEVEL must be a logging level like INFO, got {log_level!r}")
        return cls(
            action=action,
            host=args.host or environ.get("KNFLOW_HOST") or default_host,
            port=_integer(args.port, environ, "PORT", DEFAULT_PORT, minimum=0) or 0,
            code_path=args.code_path or environ.get("KNFLOW_CODE_PATH") or None,
            concurrency=_integer(args.concurrency, environ, "KNFLOW_CONCURRENCY", None, minimum=1),
            max_body=_integer(None, environ, "KNFLOW_MAX_BODY", DEFAULT_MAX_BODY, minimum=1) or DEFAULT_MAX_BODY,
            max_logs=_integer(None, environ, "KNFLOW_MAX_LOGS", DEFAULT_MAX_LOGS, minimum=0) or 0,
            drain_seconds=_number(environ, "KNFLOW_DRAIN_SECONDS", DEFAULT_DRAIN_SECONDS),
            log_level=log_level,
            check=environ.get("KNFLOW_CHECK") == "1",
        )


class _Options:
    """The command-line options, each None unless given (its variable, or the default, applies then).

    A plain class, not a dataclass: making one runs generated code, a cost on every cold start.
    """

    action: str | None = None
    host: str | None = None
    port: str | None = None
    code_path: str | None = None
    concurrency: str | None = None


def _parser() -> argparse.ArgumentParser:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m knflow_runtime",
        description="Serve one knflow action over the invoke contract (CloudEvents over HTTP).",
    )
    parser.add_argument("--action", help="module:function of the action (env KNFLOW_ACTION)")
    parser.add_argument("--host", help="listen address (env KNFLOW_HOST; 0.0.0.0 on Knative, else 127.0.0.1)")
    parser.add_argument("--port", help="TCP port, 0 for any free one (env PORT, default 8080)")
    parser.add_argument("--code-path", help="directory prepended to sys.path (env KNFLOW_CODE_PATH)")
    parser.add_argument("--concurrency", help="invocations at once (env KNFLOW_CONCURRENCY; default: the action's)")
    return parser


def _integer(
    option: str | None, environ: Mapping[str, str], name: str, default: int | None, *, minimum: int
) -> int | None:
    # An option wins over its variable; the message names whichever the value came from.
    where = f"--{name.removeprefix('KNFLOW_').lower()}" if option is not None else name
    raw = option if option is not None else environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{where} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{where} must be >= {minimum}, got {value}")
    return value


def _number(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, got {raw!r}") from None
    if value < 0:
        raise SettingsError(f"{name} must be >= 0, got {value}")
    return value
