"""Wiring of who may do what: API keys, secrets and rate limits, from the settings (see ``bootstrap``)."""

from __future__ import annotations

from dataclasses import dataclass

from .adapters.fernet import FernetCipher, local_key
from .adapters.sqlalchemy.access import SqlAlchemyAccess
from .adapters.sqlalchemy.database import Database
from .service.api_keys import ApiKeys
from .service.rate_limits import Buckets
from .service.secrets import Secrets
from .settings import Settings, SettingsError


@dataclass
class Access:
    """The keys, the secrets and the rate limits of one replica."""

    keys: ApiKeys
    secrets: Secrets
    key_limits: Buckets
    hook_limits: Buckets


def build_access(settings: Settings, db: Database, signing_secret: bytes) -> Access:
    """API keys, secrets and limits over the run store's database.

    Raises:
        SettingsError: ``KNFLOW_SECRETS_KEY`` is not a Fernet key.
    """
    access = SqlAlchemyAccess(db)
    try:
        cipher = FernetCipher(settings.secrets_key or local_key(settings.state_dir))
    except ValueError as exc:
        raise SettingsError(f"invalid settings: KNFLOW_SECRETS_KEY: not a Fernet key ({exc})") from None
    return Access(
        keys=ApiKeys(access, settings.project, settings.bootstrap_key, signing_secret),
        secrets=Secrets(access, cipher, settings.project),
        key_limits=Buckets(settings.key_rate_limit),
        hook_limits=Buckets(settings.hook_rate_limit),
    )
