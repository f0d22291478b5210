"""API keys and secrets in the run store's database (SQLAlchemy Core, SQLite and Postgres alike)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from .database import Database
from .tables import api_keys, secrets

_KEY_VIEW = (
    api_keys.c.id,
    api_keys.c.project,
    api_keys.c.name,
    api_keys.c.role,
    api_keys.c.created_at,
    api_keys.c.expires_at,
    api_keys.c.revoked_at,
)


class SqlAlchemyAccess:
    """Keys (only their hashes) and secrets (only encrypted) of every project.

    Args:
        db: the run store's database.
    """

    def __init__(self, db: Database):
        self.db = db

    async def put_api_key(self, record: dict[str, Any]) -> None:
        """Store a new key: ``id, project, name, role, key_hash, created_at, expires_at``."""
        await self.db.run(_insert, api_keys, record)

    async def find_api_key(self, key_hash: str) -> dict[str, Any] | None:
        """The unrevoked key with this hash (expired or not: the caller compares ``expires_at``)."""
        return await self.db.run(_find_key, key_hash)

    async def list_api_keys(self, project: str) -> list[dict[str, Any]]:
        """A project's keys, oldest first, without hashes."""
        return await self.db.run(_list_keys, project)

    async def revoke_api_key(self, project: str, key_id: str, now: float) -> bool:
        """Revoke a key of ``project``; True if it was live."""
        return await self.db.run(_revoke_key, project, key_id, now)

    async def put_secret(self, project: str, name: str, ciphertext: bytes, now: float) -> bool:
        """Create or replace a secret; True when it is new."""
        return await self.db.run(_put_secret, project, name, ciphertext, now)

    async def get_secrets(self, project: str, names: list[str]) -> dict[str, bytes]:
        """The ciphertexts of the named secrets that exist."""
        return await self.db.run(_get_secrets, project, names)

    async def list_secrets(self, project: str) -> list[dict[str, Any]]:
        """Names and times of a project's secrets (never their values)."""
        return await self.db.run(_list_secrets, project)

    async def delete_secret(self, project: str, name: str) -> bool:
        """Delete a secret; True if it existed."""
        return await self.db.run(_delete_secret, project, name)


def _insert(conn: Connection, table: sa.Table, record: dict[str, Any]) -> None:
    conn.execute(table.insert().values(**record))


def _find_key(conn: Connection, key_hash: str) -> dict[str, Any] | None:
    row = conn.execute(
        sa.select(*_KEY_VIEW).where(api_keys.c.key_hash == key_hash, api_keys.c.revoked_at.is_(None))
    ).first()
    return dict(row._mapping) if row else None


def _list_keys(conn: Connection, project: str) -> list[dict[str, Any]]:
    rows = conn.execute(sa.select(*_KEY_VIEW).where(api_keys.c.project == project).order_by(api_keys.c.created_at))
    return [dict(r._mapping) for r in rows]


def _revoke_key(conn: Connection, project: str, key_id: str, now: float) -> bool:
    live = (api_keys.c.id == key_id, api_keys.c.project == project, api_keys.c.revoked_at.is_(None))
    return bool(conn.execute(api_keys.update().where(*live).values(revoked_at=now)).rowcount)


def _put_secret(conn: Connection, project: str, name: str, ciphertext: bytes, now: float) -> bool:
    key = (secrets.c.project == project, secrets.c.name == name)
    if conn.execute(secrets.update().where(*key).values(ciphertext=ciphertext, updated_at=now)).rowcount:
        return False
    conn.execute(
        secrets.insert().values(project=project, name=name, ciphertext=ciphertext, created_at=now, updated_at=now)
    )
    return True


def _get_secrets(conn: Connection, project: str, names: list[str]) -> dict[str, bytes]:
    rows = conn.execute(
        sa.select(secrets.c.name, secrets.c.ciphertext).where(secrets.c.project == project, secrets.c.name.in_(names))
    )
    return {r.name: bytes(r.ciphertext) for r in rows}


def _list_secrets(conn: Connection, project: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        sa.select(secrets.c.name, secrets.c.created_at, secrets.c.updated_at)
        .where(secrets.c.project == project)
        .order_by(secrets.c.name)
    )
    return [dict(r._mapping) for r in rows]


def _delete_secret(conn: Connection, project: str, name: str) -> bool:
    return bool(conn.execute(secrets.delete().where(secrets.c.project == project, secrets.c.name == name)).rowcount)
