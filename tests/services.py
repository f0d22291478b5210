"""Where the real test services are, starting them on demand.

Plain Python (no pytest import), usable from fixtures, conftest files and scripts:

    from tests.services import kafka_bootstrap, postgres_url

Each function returns the value of its environment variable when it is set (e.g. by
``eval "$(scripts/services/up.sh)"`` or CI); otherwise it runs
``scripts/services/<name>.sh start`` (idempotent, serialised by the script) and reads
the variable from the script's ``env`` output. A service that cannot start raises
RuntimeError carrying the script's output: tests must fail, never skip, without it.
"""

from __future__ import annotations

import atexit
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts" / "services"

POSTGRES_ENV = "KNFLOW_TEST_POSTGRES_URL"
KAFKA_ENV = "KNFLOW_TEST_KAFKA_BOOTSTRAP"

# A first Kafka start resolves its jars with Maven, a first Knative start builds it from Go sources (about
# 10 min on 2 cores when nothing else runs); later starts take seconds.
_START_TIMEOUT_S = 1800.0


def postgres_url() -> str:
    """``postgresql://postgres@127.0.0.1:PORT/postgres`` of the test cluster (trust auth)."""
    return _service_env("postgres", POSTGRES_ENV)


async def fresh_postgres_database(prefix: str, template: str | None = None) -> str:
    """A new, empty database on the test Postgres (optionally copied from ``template``); its URL.

    It is dropped when this process exits. Its name carries this process's id, so that the databases of
    a process that died without dropping them (killed, crashed) are dropped by a later one: they are ~10
    MB each, and 4,580 of them once filled this machine's disk.
    """
    import secrets

    import asyncpg

    base = postgres_url()
    name = f"{prefix}_p{os.getpid()}_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(base)
    try:
        await _drop_orphans(admin)
        await admin.execute(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
    finally:
        await admin.close()
    if not _created:
        atexit.register(_drop_created, base)
    _created.append(name)
    return base.rsplit("/", 1)[0] + f"/{name}"


async def drop_postgres_database(url: str) -> None:
    """Drop a database made by :func:`fresh_postgres_database` now (a test's, at its teardown)."""
    import asyncpg

    name = url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(postgres_url())
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
    if name in _created:
        _created.remove(name)


_created: list[str] = []
_OWNED = re.compile(r"_p(\d+)_[0-9a-f]{8}$")
#: Orphans dropped per new database at most (each drop takes ~50 ms: a backlog clears over a few tests).
_ORPHANS_AT_ONCE = 20


async def _drop_orphans(admin: Any) -> None:
    rows = await admin.fetch("SELECT datname FROM pg_database WHERE datname ~ '_p[0-9]+_[0-9a-f]{8}$'")
    owners = {r["datname"]: _OWNED.search(r["datname"]) for r in rows}
    dead = [name for name, owner in owners.items() if owner and not _alive(int(owner.group(1)))]
    for name in dead[:_ORPHANS_AT_ONCE]:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _drop_created(base: str) -> None:
    """At exit: drop this process's databases (its connections to them are of no use any more)."""
    import asyncio

    import asyncpg

    async def drop() -> None:
        admin = await asyncpg.connect(base)
        try:
            for name in _created:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    try:
        asyncio.run(drop())
    except Exception as exc:  # best effort: a later process drops them as orphans
        print(f"tests.services: could not drop {len(_created)} test databases: {exc}", file=sys.stderr)


def kafka_bootstrap() -> str:
    """``127.0.0.1:PORT`` of the single-node test Kafka broker."""
    return _service_env("kafka", KAFKA_ENV)


def restart_kafka() -> None:
    """Stop and start the test broker, keeping its data (to test reconnection)."""
    _run("kafka", "restart")


def _service_env(name: str, var: str) -> str:
    value = os.environ.get(var)
    if value:
        return value
    _run(name, "start")
    value = _parse_env(_run(name, "env")).get(var)
    if not value:
        raise RuntimeError(f"scripts/services/{name}.sh env did not print {var}")
    # Later calls, and child processes, reuse it without re-running the script.
    os.environ[var] = value
    return value


def _run(name: str, command: str) -> str:
    script = SCRIPTS / f"{name}.sh"
    try:
        proc = subprocess.run(
            ["bash", str(script), command],
            capture_output=True,
            text=True,
            timeout=_START_TIMEOUT_S,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(
            f"{script} {command} did not finish within {_START_TIMEOUT_S:.0f}s\n{_text(exc.stdout)}{_text(exc.stderr)}"
        ) from exc
    except OSError as exc:
        raise RuntimeError(f"cannot run {script} {command}: {exc}") from exc
    if proc.returncode != 0:
        raise RuntimeError(f"{script} {command} failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def _parse_env(output: str) -> dict[str, str]:
    """``export NAME=VALUE`` lines (values are never quoted by our scripts)."""
    env: dict[str, str] = {}
    for line in output.splitlines():
        name, sep, value = line.strip().removeprefix("export ").partition("=")
        if sep and name.isidentifier():
            env[name] = value
    return env


def _text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data


KUBE_ENV = (
    "KNFLOW_TEST_KUBE_URL",
    "KNFLOW_TEST_KUBE_CA_FILE",
    "KNFLOW_TEST_KUBE_TOKEN_FILE",
    "KNFLOW_TEST_KUBE_KNFLOW_TOKEN_FILE",
    "KNFLOW_TEST_KUBECONFIG",
    "KNFLOW_TEST_KUBECTL",
)


def kube_env() -> dict[str, str]:
    """Where the test API server (kube-apiserver + etcd + Knative CRDs, ``scripts/services/kube.sh``) is:
    its URL, CA file, the admin token file, the token file of knflow's ServiceAccount, a kubeconfig, and the
    kubectl built with it (of the same release)."""
    return _env_of("kube", KUBE_ENV)


KNATIVE_ENV = (
    "KNFLOW_TEST_KNATIVE_URL",
    "KNFLOW_TEST_KNATIVE_CA_FILE",
    "KNFLOW_TEST_KNATIVE_TOKEN_FILE",
    "KNFLOW_TEST_KNATIVE_KNFLOW_TOKEN_FILE",
    "KNFLOW_TEST_KNATIVE_KUBECONFIG",
    "KNFLOW_TEST_KNATIVE_REGISTRY",
    "KNFLOW_TEST_KNATIVE_REGISTRY_PUSH",
    "KNFLOW_TEST_KNATIVE_INGRESS",
    "KNFLOW_TEST_KNATIVE_S3",
)


def knative_env() -> dict[str, str]:
    """Where the cluster with a real Knative Serving (``scripts/services/knative.sh``: its own API server,
    Knative's webhook and controller) is: its URL, CA file, admin token file, the token file of knflow's
    ServiceAccount and a kubeconfig."""
    return _env_of("knative", KNATIVE_ENV)


def _env_of(name: str, names: tuple[str, ...]) -> dict[str, str]:
    if all(os.environ.get(var) for var in names):
        return {var: os.environ[var] for var in names}
    _run(name, "start")
    env = _parse_env(_run(name, "env"))
    missing = [var for var in names if not env.get(var)]
    if missing:
        raise RuntimeError(f"scripts/services/{name}.sh env did not print {', '.join(missing)}")
    os.environ.update({var: env[var] for var in names})
    return {var: env[var] for var in names}


async def empty_kafka_topics(topics: list[str]) -> None:
    """Delete ``topics`` from the test broker (they come back empty on first use): the broker is shared
    by every test and benchmark, and a new consumer group starts at the earliest retained event."""
    import asyncio

    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap())
    await admin.start()
    try:
        doomed = [t for t in topics if t in set(await admin.list_topics())]
        if doomed:
            await admin.delete_topics(doomed)
        for _ in range(100):
            if not set(await admin.list_topics()) & set(doomed):
                return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"topics {doomed} were not deleted")
    finally:
        await admin.close()
