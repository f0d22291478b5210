"""What every CLI command shares: the client factory, output modes, input parsing and error handling."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, NoReturn, ParamSpec, TypeVar

import pydantic
import typer
from rich.console import Console

from knflow._errors import KnflowError
from knflow.client import ApiError, Client
from knflow.rest import Reply

P = ParamSpec("P")
R = TypeVar("R")

EXIT_OK = 0
EXIT_RUN_FAILED = 1
EXIT_USAGE = 2
EXIT_TIMEOUT = 3
EXIT_ADDRESS_IN_USE = 4  # `knflow dev`: the port is taken

UrlOption = Annotated[
    str | None,
    typer.Option("--url", envvar="KNFLOW_URL", help="Control plane URL (default http://127.0.0.1:8080)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON only.")]


ProjectOption = Annotated[
    str | None,
    typer.Option(
        "--project",
        envvar="KNFLOW_PROJECT",
        metavar="NAME",
        help="Project to act in (an operator's key, or a plane without keys; default: the key's own).",
    ),
]


#: the project ``knflow --project P`` (or ``$KNFLOW_PROJECT``) picked for this command (set by the
#: command line's callback before the command runs)
_PROJECT: ContextVar[str | None] = ContextVar("knflow_project", default=None)


def select_project(project: str | None) -> None:
    """Remember the project the command line picked (None: none, the key's own or the plane's default)."""
    _PROJECT.set(project or None)


def selected_project() -> str | None:
    """The project ``knflow --project P`` (or ``$KNFLOW_PROJECT``) picked for this command, if any."""
    return _PROJECT.get()


def make_client(url: str | None) -> Client:
    """The client commands use; tests replace this function to talk to a fake control plane."""
    return Client(url=url, project=selected_project())


class Output:
    """Where a command writes: JSON only on stdout with ``--json``, rich text otherwise."""

    def __init__(self, as_json: bool):
        self.as_json = as_json
        self.console = Console(highlight=False)
        self.err = Console(stderr=True, highlight=False)

    def json(self, data: Any) -> None:
        """Print ``data`` as JSON on stdout."""
        typer.echo(json.dumps(data, indent=2, default=str))


def as_json(reply: Reply) -> dict[str, Any]:
    """A typed reply as the JSON the API sent (what ``--json`` prints and the renderers read)."""
    return reply.model_dump(mode="json")


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print a one-line error on stderr and exit with ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def handles_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn knflow's errors into one line on stderr and exit code 2, with no traceback."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except ApiError as exc:
            fail(str(exc))
        except KnflowError as exc:
            fail(str(exc))
        except pydantic.ValidationError as exc:  # a request the client's own REST model refuses
            fail(_refused(exc))
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None

    return run


def _refused(exc: pydantic.ValidationError) -> str:
    """The first thing a request model refused, as one line naming the field (``name: String should ...``)."""
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or exc.title
    return f"{field}: {first['msg']} (got {first.get('input')!r})"


def parse_value(text: str) -> Any:
    """A ``-i`` value: JSON when it parses (``3``, ``true``, ``[1]``, ``"x"``), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_files(pairs: list[str]) -> dict[str, Path]:
    """File inputs from ``-f key=PATH`` options.

    Raises:
        typer.BadParameter: for a pair without ``=`` or a path that is not a readable file.
    """
    found: dict[str, Path] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        path = Path(value).expanduser()
        if not sep or not key:
            raise typer.BadParameter(f"expected key=PATH, got {pair!r}", param_hint="-f/--file")
        if not path.is_file():
            raise typer.BadParameter(f"{value!r} is not a file", param_hint="-f/--file")
        found[key.strip()] = path
    return found


def parse_inputs(pairs: list[str], input_json: str | None) -> dict[str, Any]:
    """A run's inputs from ``--input-json`` then each ``-i key=value`` (which wins).

    Raises:
        typer.BadParameter: for a pair without ``=`` or JSON that is not an object.
    """
    inputs: dict[str, Any] = {}
    if input_json is not None:
        try:
            parsed = json.loads(input_json)
        except ValueError as exc:
            raise typer.BadParameter(f"not valid JSON: {exc}", param_hint="--input-json") from exc
        if not isinstance(parsed, dict):
            raise typer.BadParameter("must be a JSON object", param_hint="--input-json")
        inputs.update(parsed)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected key=value, got {pair!r}", param_hint="-i/--input")
        inputs[key.strip()] = parse_value(value)
    return inputs


#: a run's id, as commands take it
RunArgument = Annotated[str, typer.Argument(metavar="RUN", help="The run.")]


def show(as_json: bool, data: Any, render: Any) -> None:
    """``data`` as JSON with ``--json``, else drawn by ``render(console, data)``."""
    out = Output(as_json)
    if out.as_json:
        out.json(data)
    else:
        render(out.console, data)


def report(out: Output, data: Any, line: str) -> None:
    """``data`` as JSON with ``--json``, else ``line`` as written (no markup)."""
    if out.as_json:
        out.json(data)
    else:
        out.console.print(line, markup=False)
