"""Configuration: defaults, then the ``test_config`` mapping, then ``DEMO_*`` env variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

DEFAULTS: dict[str, Any] = {
    # `python -m demo_backend` sets it; it also enables the fault API.
    "DEMO_MODE": False,
    "DIST_DIR": None,
    "CORS_ORIGINS": "",
    "MAX_CONTENT_LENGTH": 1 * 1024 * 1024,
    "FAULTS": False,
    "FAULT_SEED": None,
    "HANG_MAX_S": 30.0,
    "SLOW_BODY_MAX_S": 60.0,
    "ADMIN_TOKEN": "",
    "STORAGE_URI": "memory://",
    "STORAGE_PREFIX": "rf-demo:",
    "IDEMPOTENCY_TTL_S": 24 * 60 * 60,
    "IDEMPOTENCY_WAIT_S": 5.0,
    "BATCH_MAX_IDS": 100,
    "ACCESS_LOG": True,
    "CSP_CONNECT_SRC": "",
    # Bounds on state, so no sequence of requests makes memory grow without limit.
    "ITEMS_MAX": 10_000,
    "IDEMPOTENCY_MAX_KEYS": 10_000,
    "FAULTS_MAX": 1_000,
    "FAULTS_MAX_PER_SCOPE": 100,
    "STATS_MAX_SCOPES": 1_000,
    # Resumable uploads (tus, uploads.py): size of one upload, uploads held at
    # once (any state, until they expire or are deleted), their lifetime, and
    # where chunk data goes ("" = a temp dir: per app, or per Redis URI+prefix).
    "UPLOAD_MAX_SIZE": 32 * 1024 * 1024,
    "UPLOADS_MAX": 100,
    "UPLOAD_EXPIRES_S": 3600.0,
    "UPLOAD_DIR": "",
    # The server `python -m demo_backend` runs (waitress, see serving.py).
    "SERVER_THREADS": 16,
    "SERVER_CONNECTION_LIMIT": 1_000,
    "SERVER_IDLE_TIMEOUT_S": 15.0,
    "SERVER_REQUEST_TIMEOUT_S": 20.0,
    "SERVER_MAX_HEADER_BYTES": 64 * 1024,
    # Graceful stop (SIGTERM): how long in-flight requests may take to finish.
    "DRAIN_TIMEOUT_S": 30.0,
}

# Integer settings and their smallest allowed value.
_MIN_INT = {
    "BATCH_MAX_IDS": 1,
    "MAX_CONTENT_LENGTH": 1,
    "ITEMS_MAX": 1,
    "IDEMPOTENCY_MAX_KEYS": 1,
    "FAULTS_MAX": 1,
    "FAULTS_MAX_PER_SCOPE": 1,
    "STATS_MAX_SCOPES": 1,
    "UPLOAD_MAX_SIZE": 1,
    "UPLOADS_MAX": 1,
    "SERVER_THREADS": 1,
    "SERVER_CONNECTION_LIMIT": 1,
    "SERVER_MAX_HEADER_BYTES": 1024,
}

# Keys whose default is None still have a type when they come from the environment.
_OPTIONAL_INT = {"FAULT_SEED"}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the field and what is allowed."""

    def __init__(self, field: str, value: Any, allowed: str) -> None:
        super().__init__(f"{field}={value!r} is invalid: expected {allowed}")
        self.field = field
        self.value = value
        self.allowed = allowed


def _loose(raw: str) -> Any:
    # Unknown keys (e.g. DEMO_TESTING) keep the walking skeleton's lenient parsing.
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False if lowered else ""
    return raw


def coerce_env(name: str, raw: str) -> Any:
    """Convert ``DEMO_<name>`` to the type of its default, or fail naming the variable."""
    env = f"DEMO_{name}"
    default = DEFAULTS.get(name)
    text = raw.strip()
    try:
        if isinstance(default, bool):
            if text.lower() in _TRUE | _FALSE:
                return text.lower() in _TRUE
            raise ValueError(raw)
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
        if name in _OPTIONAL_INT:
            return int(text) if text else None
    except ValueError:
        kind = "a boolean (1/0/true/false)" if isinstance(default, bool) else "a number"
        raise ConfigError(env, raw, kind) from None
    if name in DEFAULTS:
        return raw
    return _loose(raw)


def load(
    test_config: Mapping[str, Any] | None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Merge defaults, the mapping and ``DEMO_*`` variables, then validate."""
    config = dict(DEFAULTS)
    if test_config is not None:
        config.update(test_config)
    env = os.environ if environ is None else environ
    for key, raw in env.items():
        # DEMO_MODE is the demo command's switch, not the env name of a config key.
        if key.startswith("DEMO_") and key != "DEMO_MODE":
            name = key.removeprefix("DEMO_")
            config[name] = coerce_env(name, raw)
    validate(config)
    return config


def validate(config: Mapping[str, Any]) -> None:
    """Fail at start-up, naming the field, rather than on the first request."""
    for key in (
        "HANG_MAX_S",
        "SLOW_BODY_MAX_S",
        "IDEMPOTENCY_TTL_S",
        "UPLOAD_EXPIRES_S",
        "SERVER_IDLE_TIMEOUT_S",
        "SERVER_REQUEST_TIMEOUT_S",
        "DRAIN_TIMEOUT_S",
    ):
        if not isinstance(config[key], int | float) or config[key] <= 0:
            raise ConfigError(key, config[key], "a number of seconds > 0")
    if (
        not isinstance(config["IDEMPOTENCY_WAIT_S"], int | float)
        or config["IDEMPOTENCY_WAIT_S"] < 0
    ):
        raise ConfigError("IDEMPOTENCY_WAIT_S", config["IDEMPOTENCY_WAIT_S"], "seconds >= 0")
    for key, low in _MIN_INT.items():
        value = config[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ConfigError(key, value, f"an integer >= {low}")
    seed = config["FAULT_SEED"]
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise ConfigError("FAULT_SEED", seed, "an integer or None")
    if not isinstance(config["ADMIN_TOKEN"], str):
        raise ConfigError("ADMIN_TOKEN", "<hidden>", "a string")
    if not isinstance(config["UPLOAD_DIR"], str):
        raise ConfigError("UPLOAD_DIR", config["UPLOAD_DIR"], "a path, or '' for a temp dir")


def faults_enabled(config: Mapping[str, Any]) -> bool:
    """The fault API exists in demo mode or when ``FAULTS`` / ``DEMO_FAULTS=1`` asks for it."""
    return bool(config.get("FAULTS")) or bool(config.get("DEMO_MODE"))
