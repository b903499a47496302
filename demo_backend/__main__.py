"""``python -m demo_backend``: serve the backend and the built demo site (demo mode: faults on)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from . import create_app
from .security import is_loopback
from .serving import make_guarded_server, serve_until_stopped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--dist", default=str(Path(__file__).resolve().parent.parent / "dist"))
    args = parser.parse_args()
    dist = Path(args.dist)
    if not (dist / "index.html").is_file():
        raise SystemExit(f"{dist}/index.html not found: run `python build.py` first")
    app = create_app({"DEMO_MODE": True, "DIST_DIR": str(dist)})
    # waitress logs a warning per dropped or timed-out connection; the access log says enough.
    logging.getLogger("waitress").setLevel(logging.ERROR)
    # waitress, not app.run(): the development server has no connection
    # timeouts and starts a thread per connection (see serving.py).
    server = make_guarded_server(app, args.host, args.port)
    # The bound port: --port 0 picks a free one.
    print(f"resilient-fetch demo: http://{args.host}:{server.effective_port}/", flush=True)
    if not is_loopback(args.host) and not app.config["ADMIN_TOKEN"]:
        print(
            "note: /_faults answers 403 to non-loopback clients until DEMO_ADMIN_TOKEN is set",
            flush=True,
        )
    # SIGTERM or Ctrl-C: /health/ready turns 503, in-flight requests finish
    # (up to DRAIN_TIMEOUT_S), then exit 0; 1 if requests had to be cut.
    status = serve_until_stopped(server)
    if status:
        sys.exit(status)


if __name__ == "__main__":
    main()
