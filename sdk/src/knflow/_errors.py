"""knflow's exception tree: one root, subclasses whose docstrings say what went wrong."""

from __future__ import annotations


class KnflowError(Exception):
    """Root of every error knflow raises on purpose."""


class SpecError(KnflowError, ValueError):
    """A workflow, action or trigger definition is invalid.

    Attributes:
        path: where in the spec the problem is, e.g. ``steps.resize.inputs.width``.
        problems: every problem found, each ``(path, message)``; the message of the exception
            joins them so that a user sees all at once.
    """

    def __init__(self, message: str, *, path: str = "", problems: list[tuple[str, str]] | None = None):
        self.path = path
        self.problems = problems if problems is not None else [(path, message)]
        super().__init__(message if not path else f"{path}: {message}")

    @classmethod
    def collect(cls, problems: list[tuple[str, str]]) -> SpecError:
        """One error that reports several problems (path, message)."""
        text = "; ".join(f"{p}: {m}" if p else m for p, m in problems)
        error = cls(text, problems=problems)
        error.path = problems[0][0] if problems else ""
        return error


class InputValidationError(KnflowError, ValueError):
    """An input does not match the action's signature.

    Attributes:
        field: the input's name (dotted for nested values).
    """

    def __init__(self, message: str, *, field: str):
        self.field = field
        super().__init__(f"input {field!r}: {message}")


class ActionError(KnflowError):
    """Raised by an action to fail its step on purpose, without retry.

    For a run started by an HTTP trigger, ``code`` becomes the reply's HTTP status and ``message``
    its JSON body.

    Attributes:
        code: an HTTP-like status code (400-599).
        message: what a caller should read.
    """

    def __init__(self, code: int = 500, message: str = "action failed"):
        if not 400 <= int(code) <= 599:
            raise ValueError(f"ActionError code must be within 400-599, got {code}")
        self.code = int(code)
        self.message = message
        super().__init__(code, message)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"
