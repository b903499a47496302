"""Backend RSS over 10,000 requests with fresh ``X-Fault-Scope`` and ``Idempotency-Key`` values.

    python -m bench.backend_memory [--requests N] [--backend-root DIR] [--out FILE]

Starts the backend (``create_app`` with faults on, served by the same server
``python -m demo_backend`` runs) in its own process on 127.0.0.1, sends
requests over one keep-alive session -- a third idempotent PATCHes, a third
health checks, a third ``POST /_faults/reset?scope=<unused>``, every one with
a scope never seen before -- and samples the server's RSS (``/proc``) every
1,000 requests, then once more after ``POST /_faults/reset``.

``--set DEMO_KEY=VALUE`` changes a bound (with the defaults, 10,000 requests
stay below ``IDEMPOTENCY_MAX_KEYS``, so RSS grows until that cap is reached).
``--backend-root`` runs another checkout's ``demo_backend`` (e.g. the code
before the bounds, from ``git archive``) for a before/after comparison; a tree
without ``serving.make_guarded_server`` is served by werkzeug's threaded server.
A measurement, not a test: it fails only if a request fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from .common import RESULTS_DIR, ROOT, log, machine_info

SERVER = """
import sys
from demo_backend import create_app
app = create_app({"FAULTS": True, "ACCESS_LOG": False})
try:
    from demo_backend.serving import make_guarded_server
except ImportError:
    from werkzeug.serving import make_server
    server = make_server("127.0.0.1", 0, app, threaded=True)
    print(server.server_port, flush=True)
    server.serve_forever()
else:
    server = make_guarded_server(app, "127.0.0.1", 0)
    print(server.effective_port, flush=True)
    server.run()
"""


def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` in KiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def run(
    requests_n: int = 10_000, backend_root: Path = ROOT, settings: dict[str, str] | None = None
) -> dict[str, Any]:
    """Measure; returns the result document."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEMO_")}
    env.update({"PYTHONPATH": str(backend_root), **(settings or {})})
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER],
        cwd=backend_root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        base = f"http://127.0.0.1:{port}"
        session = requests.Session()
        session.post(base + "/api/items", json={"name": "target"}, timeout=5).raise_for_status()
        for _ in range(200):  # warm-up: imports, caches, first allocations
            session.get(base + "/health/live", timeout=5)
        samples = [{"requests": 0, "rss_kib": rss_kib(proc.pid)}]
        started = time.monotonic()
        for i in range(1, requests_n + 1):
            scope = {"X-Fault-Scope": f"scope-{i}"}
            if i % 3 == 0:
                resp = session.patch(
                    base + "/api/items/1",
                    json={"done": bool(i % 2)},
                    headers={**scope, "Idempotency-Key": f"key-{i}"},
                    timeout=5,
                )
            elif i % 3 == 1:
                resp = session.get(base + "/health/live", headers=scope, timeout=5)
            else:
                resp = session.post(base + f"/_faults/reset?scope=unused-{i}", timeout=5)
            if resp.status_code >= 400:
                raise RuntimeError(f"request {i} failed: {resp.status_code} {resp.text[:200]}")
            if i % 1_000 == 0:
                samples.append({"requests": i, "rss_kib": rss_kib(proc.pid)})
        elapsed = time.monotonic() - started
        session.post(base + "/_faults/reset", timeout=5).raise_for_status()
        after_reset = rss_kib(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    first, last = samples[0]["rss_kib"], samples[-1]["rss_kib"]
    # Growth over the second half, when every bound has long been reached.
    mid = samples[len(samples) // 2]
    return {
        "benchmark": "backend_memory",
        "title": "Backend RSS over requests with fresh scopes and idempotency keys",
        "quick": requests_n < 10_000,
        "machine": machine_info(),
        "config": {
            "requests": requests_n,
            "backend_root": str(backend_root),
            "settings": settings or {},
        },
        "samples": samples,
        "rss_growth_kib": last - first,
        "rss_growth_second_half_kib": last - mid["rss_kib"],
        "rss_after_reset_kib": after_reset,
        "duration_s": round(elapsed, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--backend-root", type=Path, default=ROOT)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "backend_memory.json")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="DEMO_KEY=VALUE",
        help="a backend setting, e.g. DEMO_IDEMPOTENCY_MAX_KEYS=1000 (repeatable)",
    )
    args = parser.parse_args(argv)
    settings = dict(item.split("=", 1) for item in args.set)
    result = run(args.requests, args.backend_root.resolve(), settings)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    log(
        f"RSS {result['samples'][0]['rss_kib']} -> {result['samples'][-1]['rss_kib']} KiB "
        f"(+{result['rss_growth_kib']} KiB; second half +{result['rss_growth_second_half_kib']}) "
        f"over {args.requests} requests; wrote {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
