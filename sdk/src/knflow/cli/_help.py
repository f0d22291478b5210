"""Help a person reads at 80 columns: plain text, each value named by its meaning (``--limit N``,
``RUN``) instead of its Python type (``<int>``, ``{run_id}``), ranges and types left to the error
message a wrong value gets."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

#: What a value is called in help, by parameter name; any other is its option's name in capitals.
METAVARS = {
    "inputs": "KEY=VALUE",
    "input_json": "JSON",
    "files": "KEY=PATH",
    "timeout": "SECONDS",
    "limit": "N",
    "state_dir": "DIR",
    "output": "PATH",
}
_SENTENCE_END = re.compile(r"\.(\s|$)")


def metavar(param: TyperArgument | TyperOption) -> str:
    """What the value of ``param`` is called in help and usage."""
    if param.metavar is not None:
        return param.metavar
    name = param.name or ""
    if isinstance(param, TyperOption):
        name = max(param.opts, key=len).lstrip("-").replace("-", "_")
    return METAVARS.get(param.name or "", name.upper())


def summary(help_text: str | None) -> str:
    """A command's first sentence, for the list of commands (wrapped there, never cut short)."""
    paragraph = (help_text or "").strip().split("\n\n", 1)[0].replace("\n", " ")
    end = _SENTENCE_END.search(paragraph)
    return paragraph[: end.start() + 1] if end else paragraph


def _extras(param: TyperArgument | TyperOption) -> str:
    extra = []
    default = param.default
    shown = not callable(default) and default not in (None, False, [], ()) and param.show_default is not False
    if shown:
        extra.append(f"default: {default}")
    if isinstance(param.envvar, str):
        extra.append(f"env var: {param.envvar}")
    if param.required:
        extra.append("required")
    return f"  [{'; '.join(extra)}]" if extra else ""


def _option_name(option: TyperOption) -> str:
    names = ", ".join(sorted(option.opts, key=len))
    return names if option.is_flag or option.count else f"{names} {metavar(option)}"


class PlainCommand(TyperCommand):
    """A command whose help lists its arguments and options by name and meaning, without type tags."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        """``[OPTIONS] WORKFLOW`` (an optional argument in brackets, a repeated one with ``...``)."""
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                name = metavar(param) + ("..." if param.nargs == -1 else "")
                pieces.append(name if param.required else f"[{name}]")
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        """The Arguments and Options sections."""
        params = self.get_params(ctx)
        arguments = [
            (metavar(p), (p.help or "") + _extras(p)) for p in params if isinstance(p, TyperArgument) and not p.hidden
        ]
        options = [
            (_option_name(p), (p.help or "") + _extras(p))
            for p in params
            if isinstance(p, TyperOption) and not p.hidden
        ]
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


class PlainGroup(TyperGroup):
    """The ``knflow`` group: its commands listed with their first sentence, whole."""

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """Each command with its first sentence."""
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, summary(command.short_help or command.help)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class PlainTyper(typer.Typer):
    """A typer app whose commands are :class:`PlainCommand` unless they ask for another class."""

    def command(self, *args: Any, cls: type[TyperCommand] | None = None, **kwargs: Any) -> Callable[..., Any]:
        """Register a command (see ``typer.Typer.command``)."""
        return super().command(*args, cls=cls or PlainCommand, **kwargs)
