"""Secret values encrypted at rest with Fernet (``cryptography``): AES-128-CBC with an HMAC-SHA256 tag.

The key comes from ``KNFLOW_SECRETS_KEY`` (32 url-safe base64 bytes, ``Fernet.generate_key()``); every
replica needs the same one. Without it, the embedded control plane generates one into
``{state_dir}/secrets-key`` (mode 0600) on first use.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from ..errors import Unavailable


class SecretUnreadable(Unavailable):
    """A stored secret cannot be decrypted with this control plane's key (was KNFLOW_SECRETS_KEY changed?)."""


class FernetCipher:
    """Encrypt and decrypt secret values with one Fernet key.

    Raises:
        ValueError: the key is not 32 url-safe base64-encoded bytes.
    """

    def __init__(self, key: str | bytes):
        self._fernet = Fernet(key)

    def encrypt(self, plain: bytes) -> bytes:
        """The token of ``plain``."""
        return self._fernet.encrypt(plain)

    def decrypt(self, token: bytes) -> bytes:
        """The value of a token.

        Raises:
            SecretUnreadable: the token was made with another key, or was altered.
        """
        try:
            return self._fernet.decrypt(token)
        except InvalidToken as exc:
            raise SecretUnreadable() from exc


def local_key(state_dir: Path) -> bytes:
    """The embedded control plane's key: read from ``state_dir/secrets-key``, made there on first use."""
    path = state_dir / "secrets-key"
    if path.exists():
        return path.read_bytes().strip()
    key = Fernet.generate_key()
    state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key)
    return key
