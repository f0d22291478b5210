"""run version: a counter every transition of a run bumps, so a completion planned from a read made
outside its transaction can tell, under the run's lock, that nothing changed the run since

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# Raised from inside the writes' one statement (``dialect_writes.PERSIST_PG``) when a run moved: its
# transaction is then rolled back whole, and the store plans the completion again under the row lock.
# SQLSTATE 40001 (serialization_failure): "try the transaction again", which is what it asks for.
_MOVED = """
CREATE OR REPLACE FUNCTION knflow_runs_moved(moved text[]) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF cardinality(moved) > 0 THEN
        RAISE EXCEPTION 'knflow: runs changed since they were read: %', array_to_string(moved, ', ')
            USING ERRCODE = '40001';
    END IF;
    RETURN false;
END
$$
"""


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("version", sa.BigInteger, nullable=False, server_default="0"))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_MOVED)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION knflow_runs_moved(text[])")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("version")
