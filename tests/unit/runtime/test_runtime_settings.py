"""Settings from argv and env, loading the action, and the idempotency cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from knflow import ActionDefinition
from knflow_runtime import LoadError, Settings, SettingsError
from knflow_runtime.idempotency import ReplyCache
from knflow_runtime.loader import load_action


def test_options_win_over_environment() -> None:
    env = {"KNFLOW_ACTION": "env_mod:fn", "PORT": "9000", "KNFLOW_HOST": "10.0.0.1", "KNFLOW_CONCURRENCY": "3"}
    settings = Settings.load(["--action", "cli_mod:fn", "--port", "0", "--concurrency", "5"], env)
    assert settings == Settings(action="cli_mod:fn", host="10.0.0.1", port=0, concurrency=5)


def test_environment_as_a_container_starts_it() -> None:
    env = {
        "KNFLOW_ACTION": "app:resize",
        "PORT": "8081",
        "K_SERVICE": "resize-abc",
        "KNFLOW_CODE_PATH": "/app",
        "KNFLOW_MAX_BODY": "1024",
        "KNFLOW_MAX_LOGS": "0",
        "KNFLOW_DRAIN_SECONDS": "2.5",
        "KNFLOW_LOG_LEVEL": "debug",
    }
    settings = Settings.load([], env)
    assert settings.action == "app:resize"
    assert settings.host == "0.0.0.0"  # on Knative
    assert settings.port == 8081
    assert settings.code_path == "/app"
    assert settings.concurrency is None  # the action's own
    assert (settings.max_body, settings.max_logs, settings.drain_seconds) == (1024, 0, 2.5)
    assert settings.log_level == "DEBUG"


def test_defaults_off_knative() -> None:
    settings = Settings.load(["--action", "m:f"], {})
    assert (settings.host, settings.port, settings.code_path) == ("127.0.0.1", 8080, None)
    assert settings.max_body == 64 * 1024 * 1024


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        ([], {}, "module:function"),
        (["--action", "m:f", "--port", "http"], {}, "--port must be an integer"),
        (["--action", "m:f"], {"PORT": "-1"}, "PORT must be >= 0"),
        (["--action", "m:f", "--concurrency", "0"], {}, "--concurrency must be >= 1"),
        (["--action", "m:f"], {"KNFLOW_DRAIN_SECONDS": "soon"}, "KNFLOW_DRAIN_SECONDS"),
        (["--action", "m:f"], {"KNFLOW_LOG_LEVEL": "LOUD"}, "KNFLOW_LOG_LEVEL"),
    ],
)
def test_invalid_settings_are_named(argv: list[str], env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.load(argv, env)


@pytest.fixture
def code(tmp_path: Path) -> str:
    (tmp_path / "user_code_for_loader.py").write_text(
        "from knflow import action\n"
        "@action(concurrency=2)\n"
        "def decorated(x: int) -> int:\n    return x\n"
        "def plain(x: int) -> int:\n    return x\n"
        "class Holder:\n    @staticmethod\n    def method(y: str) -> str:\n        return y\n"
        "NOT_CALLABLE = 3\n"
    )
    (tmp_path / "broken_user_code.py").write_text("raise RuntimeError('cannot start')\n")
    return str(tmp_path)


def test_loading_decorated_plain_and_dotted_targets(code: str) -> None:
    decorated = load_action("user_code_for_loader:decorated", code)
    assert isinstance(decorated, ActionDefinition)
    assert decorated.options.concurrency == 2
    plain = load_action("user_code_for_loader:plain", code)
    assert (plain.name, plain.validate_inputs({"x": 1})) == ("plain", {"x": 1})
    assert load_action("user_code_for_loader:Holder.method", code).name == "method"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_such_module_here:fn", "cannot import module 'no_such_module_here'"),
        ("broken_user_code:fn", "RuntimeError: cannot start"),
        ("user_code_for_loader:missing", "has no attribute 'missing'"),
        ("user_code_for_loader:NOT_CALLABLE", "is a int, not a function"),
        ("nocolon", "expected 'module:function'"),
    ],
)
def test_load_errors_say_why(code: str, target: str, message: str) -> None:
    with pytest.raises(LoadError, match=message):
        load_action(target, code)


def test_reply_cache_is_lru_bounded_by_entries_and_bytes() -> None:
    cache = ReplyCache(max_entries=2, max_bytes=10)
    cache.put("a", ({}, b"1234"))
    cache.put("b", ({}, b"1234"))
    assert cache.get("a") == ({}, b"1234")  # a is now the most recently used
    cache.put("c", ({}, b"12"))
    assert (cache.get("b"), len(cache)) == (None, 2)
    cache.put("d", ({}, b"123456789"))  # too many bytes with the others: they go
    assert (cache.get("a"), cache.get("c"), cache.get("d")) == (None, None, ({}, b"123456789"))
    cache.put("huge", ({}, b"x" * 11))  # larger than the whole cache: not kept
    assert cache.get("huge") is None
    assert cache.get("d") is not None
