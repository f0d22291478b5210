"""In-memory twins of the run store's ports and of the access store: dicts in this process, for unit
tests of the services above them. :class:`MemoryStore` holds every store port at once; the runs'
transitions go through the same planner and ``apply_facts`` as the database's. Each twin runs through
the same contract suites as SQLite and Postgres (``tests/integration/contracts/``,
``tests/integration/test_store_contract.py``), so a test on a twin tells what the database does.

Nothing here is durable or shared between processes; every call completes at once.
"""

from .access import MemoryAccess
from .catalogue import MemoryCatalogue
from .files import MemoryFileRecords
from .leases import MemoryLeases
from .projects import MemoryProjects
from .rejections import MemoryRejectedEvents
from .runs import MemoryRuns
from .store import MemoryStore
from .triggers import MemoryTriggers

__all__ = [
    "MemoryAccess",
    "MemoryCatalogue",
    "MemoryFileRecords",
    "MemoryLeases",
    "MemoryProjects",
    "MemoryRejectedEvents",
    "MemoryRuns",
    "MemoryStore",
    "MemoryTriggers",
]
