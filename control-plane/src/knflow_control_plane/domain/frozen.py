"""A cheaper ``__init__`` for the frozen records every transition makes.

A frozen dataclass's generated ``__init__`` sets each field through ``object.__setattr__`` (it must get
past the class's own ``__setattr__``, which refuses); a transition of one step makes a dozen such records
(its plan, claim, events, attempt rows...), and those calls were a tenth of its planning. :func:`quick_init`
gives the class an ``__init__`` with the same signature (the same fields, defaults and default factories,
in the same order) that fills the instance's ``__dict__`` in one call. Everything else is the dataclass's
own: the instances are as frozen, equal, hashable and printable as before.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


def quick_init(cls: type[T]) -> type[T]:
    """``cls`` (a frozen dataclass with no ``__post_init__`` and every field in ``__init__``) with the
    cheaper ``__init__``."""
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if hasattr(cls, "__post_init__") or any(not f.init or f.kw_only for f in fields) or hasattr(cls, "__slots__"):
        raise TypeError(f"{cls.__name__}: quick_init takes plain fields only")
    namespace: dict[str, Any] = {"_MISSING": dataclasses.MISSING}
    parameters, lines = [], []
    for f in fields:
        if f.default is not dataclasses.MISSING:
            namespace[f"_default_{f.name}"] = f.default
            parameters.append(f"{f.name}=_default_{f.name}")
        elif f.default_factory is not dataclasses.MISSING:
            namespace[f"_factory_{f.name}"] = f.default_factory
            parameters.append(f"{f.name}=_MISSING")
            lines.append(f"if {f.name} is _MISSING: {f.name} = _factory_{f.name}()")
        else:
            parameters.append(f.name)
    lines.append(f"self.__dict__.update({', '.join(f'{f.name}={f.name}' for f in fields)})")
    source = f"def __init__(self, {', '.join(parameters)}):\n" + "".join(f"    {line}\n" for line in lines)
    exec(source, namespace)  # noqa: S102 - the source is built from the class's field names, as dataclasses does
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    cls.__init__ = init  # type: ignore[method-assign]
    return cls
