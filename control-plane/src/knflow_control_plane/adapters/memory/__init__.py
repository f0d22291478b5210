"""In-memory twins of the run store's ports (all but the transitions) and of the access store: dicts in
this process, for unit tests of the services above them. Each runs through the same contract suite as
SQLite and Postgres (``tests/integration/contracts/``), so a test on a twin tells what the database does.

Nothing here is durable or shared between processes; every call completes at once.
"""

from .access import MemoryAccess
from .files import MemoryFileRecords
from .leases import MemoryLeases
from .rejections import MemoryRejectedEvents

__all__ = ["MemoryAccess", "MemoryFileRecords", "MemoryLeases", "MemoryRejectedEvents"]
