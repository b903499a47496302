"""Session-wide test order: every test that drives a browser runs last.

Playwright's sync API keeps its own event loop marked as running in the main
thread from the first browser test until the session ends, and then
``asyncio.run`` (which the CPython and unit tests use) refuses to start. The
browser tests' session-scoped ``browser_name`` parameter also makes pytest
regroup them, which can pull them ahead of the unit tests. So after pytest has
ordered the items, the ones that use a browser are moved to the end, each group
keeping its order.
"""

from __future__ import annotations

import pytest


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: "browser_name" in getattr(item, "fixturenames", ()))
