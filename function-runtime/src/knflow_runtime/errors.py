"""The function runtime's exception tree: one root, subclasses whose docstrings say what went wrong."""

from __future__ import annotations


class KnflowRuntimeError(Exception):
    """Root of every error the function runtime raises on purpose."""


class SettingsError(KnflowRuntimeError, ValueError):
    """A command-line option or environment variable of the runtime is invalid."""


class LoadError(KnflowRuntimeError, ImportError):
    """The action named by ``--action``/``KNFLOW_ACTION`` cannot be imported or is not callable."""


class MalformedEvent(KnflowRuntimeError, ValueError):
    """A request or reply is not the CloudEvent the invoke contract expects.

    Attributes:
        field: the CloudEvent attribute (``ce-type``), HTTP header or data field (``data.deadline``)
            that is wrong, so that a caller can point at it.
    """

    def __init__(self, message: str, *, field: str):
        self.field = field
        super().__init__(f"{field}: {message}")


class DeadlineError(KnflowRuntimeError, TimeoutError):
    """The invocation's deadline (or the action's timeout) passed before the action finished."""


class OutputError(KnflowRuntimeError, TypeError):
    """An action returned an output that cannot be sent back (not JSON, or a ``File`` without an upload slot).

    Attributes:
        output: the name of the offending output.
    """

    def __init__(self, message: str, *, output: str):
        self.output = output
        super().__init__(f"output {output!r}: {message}")


class FileTransferError(KnflowRuntimeError, OSError):
    """An input file could not be downloaded, or an output file uploaded, through its presigned URL.

    The message names the file and the URL without its query string: a presigned URL's signature
    must not end up in run records.
    """
