"""Roles, what each route needs, rate-limit buckets, trigger keys and secrets, on the in-memory access store."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from knflow_control_plane.adapters.fernet import FernetCipher, SecretUnreadable
from knflow_control_plane.adapters.memory import MemoryAccess
from knflow_control_plane.domain.access import Need, Principal, Role, need_of
from knflow_control_plane.entrypoints.statuses import status_of
from knflow_control_plane.errors import (
    InvalidRequest,
    NotFound,
    RateLimited,
    SecretNotApplied,
    StoreUnavailable,
    Unauthorized,
)
from knflow_control_plane.service.api_keys import ApiKeys, source_key
from knflow_control_plane.service.rate_limits import Buckets
from knflow_control_plane.service.secrets import MissingSecret, Secrets


def test_each_role_covers_what_the_issue_says() -> None:
    assert need_of("POST", "/hooks/{path}") is Need.invoke and need_of("POST", "/v1/events") is Need.invoke
    assert need_of("GET", "/v1/runs/{run_id}/logs") is Need.read and need_of("GET", "/v1/runs") is Need.read
    assert need_of("GET", "/v1/stream") is Need.read  # the web UI's live feed works with a read key
    for method, path in [("POST", "/v1/runs"), ("POST", "/v1/workflows/{name}/deploy"), ("GET", "/v1/api-keys")]:
        assert need_of(method, path) is Need.manage
    for method, path in [("POST", "/v1/projects"), ("DELETE", "/v1/projects/{name}")]:
        assert need_of(method, path) is Need.operate
    assert need_of("GET", "/v1/projects") is Need.manage  # an admin sees its own project
    admin, invoke, read = (Principal("p", role) for role in (Role.admin, Role.invoke, Role.read))
    assert all(Principal("p", Role.operator).may(need) for need in Need)
    assert all(admin.may(need) for need in Need if need is not Need.operate) and not admin.may(Need.operate)
    assert invoke.may(Need.invoke) and not invoke.may(Need.read) and not invoke.may(Need.manage)
    assert read.may(Need.read) and not read.may(Need.invoke) and not read.may(Need.manage)


def test_buckets_refuse_past_the_rate_with_the_seconds_to_wait() -> None:
    now = [0.0]
    buckets = Buckets(2.0, clock=lambda: now[0])
    buckets.take("k", "this key")
    buckets.take("k", "this key")
    with pytest.raises(RateLimited) as refused:
        buckets.take("k", "this key")
    assert refused.value.fields["retry_after"] == 1 and status_of(refused.value) == 429
    buckets.take("other", "another key")  # per name
    now[0] = 0.5
    buckets.take("k", "this key")  # a token came back
    Buckets(None).take("k", "off")  # no limit configured


async def test_keys_expire_are_revoked_at_once_and_stay_in_their_project() -> None:
    now = [1000.0]
    access = MemoryAccess()
    keys = ApiKeys(access, "alpha", bootstrap_key="boot", clock=lambda: now[0])
    assert await keys.principal("Bearer boot") == Principal("alpha", Role.operator)  # of the default project
    made = await keys.create("alpha", "ci", Role.read, expires_in=60)
    assert "key_hash" not in made and made["expires_at"] == 1060.0
    found = await keys.principal(f"Bearer {made['key']}")
    assert found == Principal("alpha", Role.read, key_id=made["id"])
    now[0] = 1061.0
    with pytest.raises(Unauthorized):
        await keys.principal(f"Bearer {made['key']}")  # expired, even though it was remembered as live
    kept = await keys.create("alpha", "kept")
    await keys.principal(f"Bearer {kept['key']}")
    with pytest.raises(NotFound):
        await keys.revoke("beta", kept["id"])  # another project's key is not found
    await keys.revoke("alpha", kept["id"])
    with pytest.raises(Unauthorized):
        await keys.principal(f"Bearer {kept['key']}")
    other = await keys.create("beta", "b")
    assert (await keys.principal(f"Bearer {other['key']}")).project == "beta"  # acts in its own project only
    assert [k["name"] for k in await keys.list("beta")] == ["b"]


async def test_trigger_keys_are_signed_for_one_source_and_project() -> None:
    keys = ApiKeys(MemoryAccess(), "alpha", signing_secret=b"s" * 32)
    key = keys.source_key("alpha", "orders", "feed")
    assert key == source_key(b"s" * 32, "alpha", "orders", "feed")
    found = await keys.principal(f"Bearer {key}")
    assert found.role is Role.source and found.source == "/triggers/feed" and found.may(Need.invoke)
    for forged in (key[:-3] + "abc", source_key(b"t" * 32, "alpha", "orders", "feed"), "knfs_x.y"):
        with pytest.raises(Unauthorized):
            await keys.principal(f"Bearer {forged}")
    beta = await ApiKeys(MemoryAccess(), "beta", signing_secret=b"s" * 32).principal(f"Bearer {key}")
    assert beta.project == "alpha"  # the project it was signed for, whatever the plane's default


async def test_secrets_are_stored_encrypted_and_resolved_by_name() -> None:
    access = MemoryAccess()
    secrets = Secrets(access, FernetCipher(Fernet.generate_key()), "alpha")
    assert await secrets.put("alpha", "TOKEN", "hunter2") is True
    assert await secrets.put("alpha", "TOKEN", "hunter3") is False
    assert await secrets.put("beta", "TOKEN", "other") is True
    assert b"hunter3" not in (await access.get_secrets("alpha", ["TOKEN"]))["TOKEN"]
    assert await secrets.values("send", ["TOKEN"]) == {"TOKEN": "hunter3"}  # a function of the default project
    assert await secrets.values("beta.send", ["TOKEN"]) == {"TOKEN": "other"}  # of project beta
    assert [s["name"] for s in await secrets.list("alpha")] == ["TOKEN"]
    with pytest.raises(MissingSecret) as missing:
        await secrets.values("send", ["TOKEN", "NOPE"])
    assert missing.value.fields["field"] == "secrets" and "NOPE" in str(missing.value)
    with pytest.raises(InvalidRequest):
        await secrets.put("alpha", "not-a-variable", "x")
    with pytest.raises(SecretUnreadable):
        await Secrets(access, FernetCipher(Fernet.generate_key()), "alpha").values("send", ["TOKEN"])  # another key
    await secrets.delete("alpha", "TOKEN")
    with pytest.raises(NotFound):
        await secrets.delete("alpha", "TOKEN")


class FlakyMirror:
    """A ``SecretMirror`` in memory that fails while ``down``."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}
        self.others: dict[str, dict[str, str]] = {}  # other projects' stores
        self.down = False

    async def put(self, values: dict[str, str], project: str | None = None) -> None:
        if self.down:
            raise StoreUnavailable("the Kubernetes API is unreachable")
        (self.data if project is None else self.others.setdefault(project, {})).update(values)

    async def remove(self, name: str, project: str | None = None) -> None:
        if self.down:
            raise StoreUnavailable("the Kubernetes API is unreachable")
        (self.data if project is None else self.others.setdefault(project, {})).pop(name, None)


async def test_a_mirror_gets_every_write_and_a_failed_one_is_said_and_repaired_by_a_retry_or_a_sync() -> None:
    mirror = FlakyMirror()
    secrets = Secrets(MemoryAccess(), FernetCipher(Fernet.generate_key()), "alpha", mirror=mirror)
    await secrets.put("alpha", "TOKEN", "hunter2")
    assert mirror.data == {"TOKEN": "hunter2"}
    mirror.down = True
    with pytest.raises(SecretNotApplied) as failed:
        await secrets.put("alpha", "TOKEN", "hunter3")
    assert "hunter" not in str(failed.value) and status_of(failed.value) == 502
    assert await secrets.values("send", ["TOKEN"]) == {"TOKEN": "hunter3"}  # stored all the same
    mirror.down = False
    await secrets.sync("send", ["TOKEN", "NOT_SET"])  # what a deploy does: the set ones are copied
    assert mirror.data == {"TOKEN": "hunter3"}
    mirror.down = True
    with pytest.raises(SecretNotApplied):
        await secrets.delete("alpha", "TOKEN")
    mirror.down = False
    with pytest.raises(NotFound):
        await secrets.delete("alpha", "TOKEN")  # the retry finishes the removal, then says it is gone
    assert mirror.data == {}
    await secrets.put("beta", "TOKEN", "b")  # another project's secret goes to its own store
    await secrets.sync("beta.send", ["TOKEN"])
    assert mirror.data == {} and mirror.others == {"beta": {"TOKEN": "b"}}
