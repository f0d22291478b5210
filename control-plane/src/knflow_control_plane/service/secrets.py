"""Named secrets of a project: set, listed by name, deleted; their values only encrypted at rest, never
returned by the API nor logged, and given to the functions of actions that name them (``secrets=[...]``)
as environment variables.

With a backend whose functions read their secrets elsewhere (the knative backend: a Kubernetes Secret), a
``SecretMirror`` gets every write and delete, and the secrets an action names are copied to it again when
it is deployed: a secret set while the mirror could not be written (or before the backend was knative) is
there by the time a function that needs it starts."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from ..domain.projects import project_of
from ..errors import ControlPlaneError, InvalidRequest, NotFound, SecretNotApplied
from ..ports import AccessStore, Cipher, SecretMirror

#: a secret's name is the environment variable it becomes
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
MAX_VALUE_BYTES = 64 * 1024


class MissingSecret(InvalidRequest):
    """An action names a secret its project does not have."""


class Secrets:
    """The secrets of every project.

    Args:
        access: where the encrypted values are stored.
        cipher: encrypts them.
        project: the control plane's default project (whose secrets a function named without a project gets).
        clock: epoch seconds.
        mirror: where the functions read the secrets, when not from the control plane (None: nowhere else).
    """

    def __init__(
        self,
        access: AccessStore,
        cipher: Cipher,
        project: str,
        clock: Callable[[], float] = time.time,
        mirror: SecretMirror | None = None,
    ):
        self.access = access
        self.cipher = cipher
        self.project = project
        self._clock = clock
        self.mirror = mirror

    async def put(self, project: str, name: str, value: str) -> bool:
        """Create or replace a secret; True when it is new.

        Raises:
            InvalidRequest: a name that is not an environment variable name, or a value over 64 KiB.
            SecretNotApplied: it is stored, but the mirror could not be written (set it again).
        """
        check_name(name)
        data = value.encode()
        if len(data) > MAX_VALUE_BYTES:
            raise InvalidRequest(f"a secret holds at most {MAX_VALUE_BYTES} bytes", field="value")
        created = await self.access.put_secret(project, name, self.cipher.encrypt(data), self._clock())
        if self.mirror is not None:
            await _applied(name, self.mirror.put({name: value}, self._other(project)))
        return created

    async def list(self, project: str) -> list[dict[str, Any]]:
        """Names and times, never values."""
        return await self.access.list_secrets(project)

    async def delete(self, project: str, name: str) -> None:
        """Delete a secret.

        Raises:
            NotFound: there is none of that name.
            SecretNotApplied: it is deleted, but the mirror could not be written (delete it again).
        """
        if not await self.access.delete_secret(project, name):
            if self.mirror is not None:  # a retry after a failed removal: finish it, then say so
                await _applied(name, self.mirror.remove(name, self._other(project)))
            raise NotFound(f"no secret {name!r}", field="name")
        if self.mirror is not None:
            await _applied(name, self.mirror.remove(name, self._other(project)))

    def _other(self, project: str) -> str | None:
        """``project`` for the mirror: None for the plane's default one (its store is the configured one)."""
        return None if project == self.project else project

    async def sync(self, function: str, names: Iterable[str]) -> None:
        """Copy the named secrets that are set, of the project ``function`` belongs to (its backend name), to
        the mirror (before that function is deployed).

        A name that is not set is left alone: the function's platform reports it missing when it starts.

        Raises:
            SecretNotApplied: the mirror could not be written.
        """
        wanted = sorted(set(names))
        if self.mirror is None or not wanted:
            return
        project = project_of(function, self.project)
        found = await self.access.get_secrets(project, wanted)
        values = {name: self.cipher.decrypt(token).decode() for name, token in found.items()}
        await _applied(", ".join(sorted(values)), self.mirror.put(values, self._other(project)))

    async def values(self, function: str, names: Iterable[str]) -> dict[str, str]:
        """The plain values of the named secrets of the project ``function`` belongs to (its backend name,
        ``domain.projects.function_name``), for that function's environment.

        Raises:
            MissingSecret: naming the first secret that does not exist.
        """
        wanted = sorted(set(names))
        if not wanted:
            return {}
        found = await self.access.get_secrets(project_of(function, self.project), wanted)
        for name in wanted:
            if name not in found:
                raise MissingSecret(f"secret {name!r} is not set: knflow secrets set {name}", field="secrets")
        return {name: self.cipher.decrypt(token).decode() for name, token in found.items()}


async def _applied(names: str, write: Awaitable[None]) -> None:
    try:
        await write
    except ControlPlaneError as exc:  # the adapter's error names the Secret, never a value
        raise SecretNotApplied(
            f"secret {names} is stored, but the functions' copy could not be written ({exc}); try again",
            field="name",
        ) from exc


def check_name(name: str) -> None:
    """Refuse a name that cannot be an environment variable.

    Raises:
        InvalidRequest: naming the field.
    """
    if not NAME.match(name):
        raise InvalidRequest("a secret's name is an environment variable name: [A-Za-z_][A-Za-z0-9_]*", field="name")
