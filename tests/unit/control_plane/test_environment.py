"""The environment of user code: the allowlist, the action's declared env, secrets, then knflow's own."""

from __future__ import annotations

from knflow_control_plane.domain.environment import child_environment, inherited

PLANE = {
    "PATH": "/usr/bin",
    "HOME": "/home/knflow",
    "LC_ALL": "C.UTF-8",
    "PYTHONHASHSEED": "0",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
    "KNFLOW_DATABASE_URL": "postgresql://knflow:pw@db/knflow",
    "KNFLOW_S3_SECRET_KEY": "s3",
    "AWS_SECRET_ACCESS_KEY": "aws",
    "PGPASSWORD": "pg",
    "DATABASE_URL": "postgresql://x",
    "HTTPS_PROXY": "http://proxy:3128",
    "http_proxy": "http://user:pass@proxy:3128",
    "NO_PROXY": "localhost",
}


def test_only_allowlisted_variables_are_inherited_and_proxies_only_without_credentials() -> None:
    assert inherited(PLANE) == {
        "PATH": "/usr/bin",
        "HOME": "/home/knflow",
        "LC_ALL": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
        "HTTPS_PROXY": "http://proxy:3128",
        "NO_PROXY": "localhost",
    }


def test_declared_env_then_secrets_then_the_runtimes_own_variables_win() -> None:
    env = child_environment(
        PLANE,
        {"PATH": "/opt/bin", "MODE": 1, "PORT": "1"},
        {"MODE": "from-secret"},
        {"PORT": "8081"},
    )
    assert env["PATH"] == "/opt/bin" and env["MODE"] == "from-secret" and env["PORT"] == "8081"
    assert "AWS_SECRET_ACCESS_KEY" not in env and "KNFLOW_DATABASE_URL" not in env
