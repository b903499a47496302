"""Serves a real ``create_app()`` on 127.0.0.1 in a background thread; Redis-mode fixtures."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from demo_backend import create_app
from demo_backend.serving import serve_in_thread

from .processes import RedisServer, start_redis


@dataclass
class LiveServer:
    app: Flask
    url: str

    def add_fault(self, **spec: Any) -> dict[str, Any]:
        """POST /_faults and return the created fault (fails the test on a non-201)."""
        resp = requests.post(self.url + "/_faults", json=spec, timeout=5)
        assert resp.status_code == 201, resp.text
        body: dict[str, Any] = resp.json()
        return body


@pytest.fixture
def serve() -> Iterator[Callable[[Flask], LiveServer]]:
    """Serve any app on a free 127.0.0.1 port (threaded werkzeug) until the test ends."""
    with ExitStack() as stack:
        yield lambda app: LiveServer(app, stack.enter_context(serve_in_thread(app)))


@pytest.fixture
def live_server(serve: Callable[[Flask], LiveServer]) -> LiveServer:
    return serve(create_app({"TESTING": True}))


@pytest.fixture
def fault_server(serve: Callable[[Flask], LiveServer]) -> LiveServer:
    """A live server with the fault API on and short server-side bounds."""
    return serve(create_app({"TESTING": True, "FAULTS": True, "HANG_MAX_S": 1.0, "FAULT_SEED": 7}))


@pytest.fixture
def app_factory() -> Callable[..., Flask]:
    """``create_app`` with TESTING and faults on, plus any overrides."""

    def _make(**overrides: Any) -> Flask:
        return create_app({"TESTING": True, "FAULTS": True, "FAULT_SEED": 7, **overrides})

    return _make


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server on 127.0.0.1 for the whole session; fails if redis-server is missing."""
    from .processes import stop

    server = start_redis(Path(tmp_path_factory.mktemp("redis")))
    try:
        yield server
    finally:
        stop(server.proc)


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix no other test uses, so tests share one redis-server without clashing."""
    return f"rf-test-{uuid.uuid4().hex[:8]}:"
