"""Shared pytest set-up, also loaded inside Pyodide (keep it stdlib + pytest only).

- ``async def`` tests run on a fresh event loop (CPython) or on Pyodide's
  WebLoop through ``run_sync`` (needs JSPI), so no plugin is required.
- A skipped test fails the run unless ``RF_ALLOW_SKIPS=1``: a suite that
  silently skipped for lack of a prerequisite must not look green.
"""

from __future__ import annotations

import inspect
import os

import pytest
from unit._support import run


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    funcargs = pyfuncitem.funcargs
    kwargs = {name: funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    run(pyfuncitem.obj(**kwargs))
    return True


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("RF_ALLOW_SKIPS") == "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped and session.exitstatus == 0:
        reporter.write_line(
            f"FAILED: {skipped} test(s) skipped; a skipped suite is not a pass "
            "(set RF_ALLOW_SKIPS=1 to allow locally)",
            red=True,
        )
        session.exitstatus = 1
