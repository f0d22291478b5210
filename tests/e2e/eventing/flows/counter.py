"""A custom trigger: an async generator that yields five events, each starting one run."""

import asyncio

from knflow import Event, action, trigger, workflow


@trigger
async def counter():  # type: ignore[no-untyped-def]
    """Counts to five, then keeps quiet (a real one would watch something forever)."""
    for n in range(5):
        yield Event(type="com.example.count", data={"n": n}, subject=f"n-{n}", id=f"count-{n}")
    yield {"type": "com.example.noise", "data": {"n": 99}}  # another type: matches no trigger below
    await asyncio.sleep(3600)


@action
def double(n: int) -> int:
    """Twice n."""
    return 2 * n


@workflow(triggers=[counter.matching(type="com.example.count")])
def counted(n: int) -> object:
    """One run per counted event."""
    return double(n=n)
