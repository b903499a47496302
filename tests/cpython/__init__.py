"""CPython-only tests that need third-party libraries (never run inside Pyodide)."""
