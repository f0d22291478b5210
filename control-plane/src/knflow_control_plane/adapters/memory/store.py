"""Every in-memory twin in one object: the run store of a unit test, but for the transitions."""

from __future__ import annotations

from .catalogue import MemoryCatalogue
from .files import MemoryFileRecords
from .leases import MemoryLeases
from .projects import MemoryProjects
from .rejections import MemoryRejectedEvents
from .triggers import MemoryTriggers


class MemoryStore(
    MemoryCatalogue, MemoryTriggers, MemoryRejectedEvents, MemoryFileRecords, MemoryLeases, MemoryProjects
):
    """The catalogue, triggers, rejected events, file records, leases and projects of every project."""

    def __init__(self) -> None:
        MemoryCatalogue.__init__(self)
        MemoryTriggers.__init__(self)
        MemoryRejectedEvents.__init__(self)
        MemoryFileRecords.__init__(self)
        MemoryLeases.__init__(self)
        MemoryProjects.__init__(self)
