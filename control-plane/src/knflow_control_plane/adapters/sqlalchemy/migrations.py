"""Bring a database's schema up to date with Alembic, safely from several replicas at once."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from .database import Database

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config() -> Config:
    """Alembic's configuration for knflow's migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _upgrade(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        # Replicas starting together: one migrates, the others wait, then find nothing to do.
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7316020)")
    config = alembic_config()
    config.attributes["connection"] = conn
    command.upgrade(config, "head")


async def migrate(database: Database) -> None:
    """Apply every migration not applied yet."""
    await database.run(_upgrade)
