"""What every table of the run store shares: the one ``MetaData`` (its naming convention names the indexes
and constraints the migrations create) and the column types.

Times are epoch seconds (floats): cheap to compare on the hot path and the same on SQLite and Postgres.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)
Json = sa.JSON().with_variant(JSONB(), "postgresql")
Project = sa.String(63)
Name = sa.String(63)
Time = sa.Float(precision=53)  # epoch seconds; precision 53 makes it a double on Postgres
