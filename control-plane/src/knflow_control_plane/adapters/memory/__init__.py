"""In-memory twins of the run store's ports (all but the transitions; :class:`MemoryStore` holds them
all) and of the access store: dicts in this process, for unit tests of the services above them. Each
runs through the same contract suite as SQLite and Postgres (``tests/integration/contracts/``), so a
test on a twin tells what the database does.

Nothing here is durable or shared between processes; every call completes at once.
"""

from .access import MemoryAccess
from .catalogue import MemoryCatalogue
from .files import MemoryFileRecords
from .leases import MemoryLeases
from .projects import MemoryProjects
from .rejections import MemoryRejectedEvents
from .store import MemoryStore
from .triggers import MemoryTriggers

__all__ = [
    "MemoryAccess",
    "MemoryCatalogue",
    "MemoryFileRecords",
    "MemoryLeases",
    "MemoryProjects",
    "MemoryRejectedEvents",
    "MemoryStore",
    "MemoryTriggers",
]
