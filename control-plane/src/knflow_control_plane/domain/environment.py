"""The environment user code runs with: an allowlist of the control plane's, then what the action declares.

Functions and custom triggers run code the control plane did not write. They get nothing of the plane's
environment but the variables a Python process needs to behave like one on this host (where programs and
the home folder are, locale and time zone, temporary files, trust roots, interpreter switches, tracing
configuration); the plane's credentials (``KNFLOW_*``, ``AWS_*``, ``PG*``, anything else) never reach them.
An action that needs a variable declares it (``@action(env={...})``); secrets are added by name by the
caller (``secrets``), never inherited.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

#: variables passed on by name
ALLOWED = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TMPDIR",
        "TEMP",
        "TMP",
        # trust roots: a host with a private CA needs them for any HTTPS call; they are paths, not secrets
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
    }
)
#: variables passed on by prefix: the locale (``LC_*``), interpreter switches (``PYTHONPATH``,
#: ``PYTHONHASHSEED``...: no credentials, and the runtime needs the interpreter set up as the plane's),
#: and the OpenTelemetry configuration the function's spans are exported with
ALLOWED_PREFIXES = ("LC_", "PYTHON", "OTEL_")
#: proxies, passed on only without credentials in their URL (``http://user:pass@proxy`` is a secret)
PROXIES = frozenset({"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"})


def allowed(name: str, value: str) -> bool:
    """Whether the plane's variable ``name`` may reach user code."""
    if name in ALLOWED or name.startswith(ALLOWED_PREFIXES):
        return True
    if name.upper() in PROXIES:
        return name.upper() == "NO_PROXY" or not _has_credentials(value)
    return False


def _has_credentials(url: str) -> bool:
    try:
        parts = urlsplit(url if "://" in url else f"//{url}")
    except ValueError:
        return True  # not a URL we can read: not passed on
    return parts.username is not None or parts.password is not None


def inherited(environ: Mapping[str, str]) -> dict[str, str]:
    """The part of the plane's environment that user code inherits (see :func:`allowed`)."""
    return {name: value for name, value in environ.items() if allowed(name, value)}


def child_environment(
    environ: Mapping[str, str],
    declared: Mapping[str, object] | None = None,
    secrets: Mapping[str, str] | None = None,
    runtime: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The whole environment of a function or trigger process.

    Args:
        environ: the control plane's environment (only :func:`allowed` variables are kept).
        declared: the action's ``env`` option.
        secrets: values of the secrets the action names (resolved by the caller), over ``declared``.
        runtime: knflow's own variables for the process (``PORT``, ``KNFLOW_ACTION``, ``K_SINK``...), last:
            an action's env must not point the runtime at another entrypoint.
    """
    env = inherited(environ)
    env.update({str(k): str(v) for k, v in (declared or {}).items()})
    env.update(secrets or {})
    env.update(runtime or {})
    return env
