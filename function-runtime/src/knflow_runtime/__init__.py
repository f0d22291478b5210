"""knflow-runtime: the server inside each function; it loads one action and speaks the invoke contract.

The front door re-exports the public names lazily, so that ``import knflow_runtime.contract`` (what the
control plane does) does not pull in the server, and the server's cold start loads only what it uses.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .contract import Invocation, decode_invoke, decode_result, encode_invoke, encode_result
    from .errors import KnflowRuntimeError, LoadError, MalformedEvent, SettingsError
    from .lifecycle import main, serve
    from .settings import Settings

_HOMES = {
    "Invocation": "contract",
    "decode_invoke": "contract",
    "decode_result": "contract",
    "encode_invoke": "contract",
    "encode_result": "contract",
    "KnflowRuntimeError": "errors",
    "LoadError": "errors",
    "MalformedEvent": "errors",
    "SettingsError": "errors",
    "main": "lifecycle",
    "serve": "lifecycle",
    "Settings": "settings",
}

__all__ = [
    "Invocation",
    "KnflowRuntimeError",
    "LoadError",
    "MalformedEvent",
    "Settings",
    "SettingsError",
    "decode_invoke",
    "decode_result",
    "encode_invoke",
    "encode_result",
    "main",
    "serve",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'knflow_runtime' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{home}", __name__), name)
