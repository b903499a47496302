"""Runs pytest inside Pyodide, for both runners (Node and Chromium) of the unit suite.

The runner puts the wheels in site-packages and tests/ (conftest.py + unit/) at
/work/tests, executes this file, then awaits ``main(args)`` from ``runPythonAsync``
(async tests need that entry point: ``run_sync`` suspends it with JSPI).
"""

import os
import sys


def main(args: list[str]) -> int:
    """pytest's exit code for ``args`` (relative to /work)."""
    os.chdir("/work")
    sys.dont_write_bytecode = True
    import pytest

    import resilient_fetch

    client = f"resilient_fetch {resilient_fetch.__version__}"
    print("python", sys.version.split()[0], "platform", sys.platform, client)
    return int(pytest.main(["-p", "no:cacheprovider", "--rootdir", "/work/tests", *args]))
