"""Named secrets of a project: set, listed by name, deleted; their values only encrypted at rest, never
returned by the API nor logged, and given to the functions of actions that name them (``secrets=[...]``)
as environment variables."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import InvalidRequest, NotFound
from ..ports import AccessStore, Cipher

#: a secret's name is the environment variable it becomes
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
MAX_VALUE_BYTES = 64 * 1024


class MissingSecret(InvalidRequest):
    """An action names a secret its project does not have."""


class Secrets:
    """The secrets of one project.

    Args:
        access: where the encrypted values are stored.
        cipher: encrypts them.
        project: whose.
        clock: epoch seconds.
    """

    def __init__(self, access: AccessStore, cipher: Cipher, project: str, clock: Callable[[], float] = time.time):
        self.access = access
        self.cipher = cipher
        self.project = project
        self._clock = clock

    async def put(self, name: str, value: str) -> bool:
        """Create or replace a secret; True when it is new.

        Raises:
            InvalidRequest: a name that is not an environment variable name, or a value over 64 KiB.
        """
        check_name(name)
        data = value.encode()
        if len(data) > MAX_VALUE_BYTES:
            raise InvalidRequest(f"a secret holds at most {MAX_VALUE_BYTES} bytes", field="value")
        return await self.access.put_secret(self.project, name, self.cipher.encrypt(data), self._clock())

    async def list(self) -> list[dict[str, Any]]:
        """Names and times, never values."""
        return await self.access.list_secrets(self.project)

    async def delete(self, name: str) -> None:
        """Delete a secret.

        Raises:
            NotFound: there is none of that name.
        """
        if not await self.access.delete_secret(self.project, name):
            raise NotFound(f"no secret {name!r}", field="name")

    async def values(self, names: Iterable[str]) -> dict[str, str]:
        """The plain values of the named secrets, for a function's environment.

        Raises:
            MissingSecret: naming the first secret that does not exist.
        """
        wanted = sorted(set(names))
        if not wanted:
            return {}
        found = await self.access.get_secrets(self.project, wanted)
        for name in wanted:
            if name not in found:
                raise MissingSecret(f"secret {name!r} is not set: knflow secrets set {name}", field="secrets")
        return {name: self.cipher.decrypt(token).decode() for name, token in found.items()}


def check_name(name: str) -> None:
    """Refuse a name that cannot be an environment variable.

    Raises:
        InvalidRequest: naming the field.
    """
    if not NAME.match(name):
        raise InvalidRequest("a secret's name is an environment variable name: [A-Za-z_][A-Za-z0-9_]*", field="name")
