"""Unit tests never sleep for real: a SystemClock sleep of more than a tick that runs
to completion fails the test (timers that are cancelled, like an unexpired timeout,
are fine)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from resilient_fetch import SystemClock

_real_sleep = SystemClock.sleep


@pytest.fixture(autouse=True)
def _no_real_sleeps(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    async def guarded(self: SystemClock, seconds: float) -> None:
        await _real_sleep(self, seconds)
        if seconds > 0.05:
            raise AssertionError(f"unit test slept {seconds}s on the real clock: use FakeClock")

    monkeypatch.setattr(SystemClock, "sleep", guarded)
    yield
