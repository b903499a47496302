"""``create_app``: defaults, then the mapping, then typed ``DEMO_*`` env vars; state per app."""

from __future__ import annotations

import pytest

from demo_backend import create_app
from demo_backend.config import ConfigError


def test_env_overrides_mapping_with_typed_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_HANG_MAX_S", "2.5")
    monkeypatch.setenv("DEMO_BATCH_MAX_IDS", "7")
    monkeypatch.setenv("DEMO_FAULTS", "yes")
    monkeypatch.setenv("DEMO_FAULT_SEED", "5")
    monkeypatch.setenv("DEMO_CORS_ORIGINS", "https://a.example")
    app = create_app({"TESTING": True, "HANG_MAX_S": 9.0, "BATCH_MAX_IDS": 3})
    assert app.config["HANG_MAX_S"] == 2.5
    assert app.config["BATCH_MAX_IDS"] == 7
    assert app.config["FAULTS"] is True
    assert app.config["FAULT_SEED"] == 5
    assert app.config["CORS_ORIGINS"] == "https://a.example"
    assert app.config["STORAGE_URI"] == "memory://"


@pytest.mark.parametrize(
    ("env", "value"),
    [("DEMO_HANG_MAX_S", "soon"), ("DEMO_FAULTS", "maybe"), ("DEMO_BATCH_MAX_IDS", "1.5")],
)
def test_bad_env_value_fails_at_start_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as info:
        create_app({"TESTING": True})
    assert info.value.field == env and value in str(info.value)


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"HANG_MAX_S": 0}, "HANG_MAX_S"),
        ({"IDEMPOTENCY_WAIT_S": -1}, "IDEMPOTENCY_WAIT_S"),
        ({"BATCH_MAX_IDS": 0}, "BATCH_MAX_IDS"),
        ({"FAULT_SEED": "x"}, "FAULT_SEED"),
        ({"STORAGE_URI": "mongodb://db"}, "STORAGE_URI"),
    ],
)
def test_bad_config_fails_at_start_naming_the_field(config: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        create_app({"TESTING": True, **config})
    assert info.value.field == field and "expected" in str(info.value)


def test_state_lives_in_app_extensions_per_app() -> None:
    one = create_app({"TESTING": True, "FAULTS": True})
    two = create_app({"TESTING": True, "FAULTS": True})
    for key in ("storage", "items", "idempotency", "fault_injector"):
        assert key in one.extensions and one.extensions[key] is not two.extensions[key]
    one.test_client().post("/api/items", json={"name": "only in one"})
    one.test_client().post("/_faults", json={"type": "down"})
    assert two.test_client().get("/api/items").json == {"items": []}
    assert two.test_client().get("/health").status_code == 200
