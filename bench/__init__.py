"""Benchmarks against raw fetch and the peers: run them with ``python -m bench.run``."""
