"""Build ``dist/``: a static site holding the client wheel, the Pyodide runtime and ``web/``.

    python build.py [--out dist] [--backend-url URL]

Any static file server can host the result, as long as it serves ``.wasm`` as
``application/wasm`` and ``.mjs``/``.js`` as ``text/javascript``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
PYODIDE_FILES = (
    "pyodide.mjs",
    "pyodide.asm.mjs",
    "pyodide.asm.wasm",
    "python_stdlib.zip",
    "pyodide-lock.json",
)


def build_wheel(out: Path) -> Path:
    """Build the client wheel with hatchling (no network, no build isolation)."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--quiet",
                "--no-deps",
                "--no-build-isolation",
                "--wheel-dir",
                tmp,
                str(ROOT),
            ],
            check=True,
        )
        wheels = list(Path(tmp).glob("resilient_fetch-*.whl"))
        if len(wheels) != 1:
            raise SystemExit(f"expected one wheel, found {wheels}")
        target = out / wheels[0].name
        shutil.copy2(wheels[0], target)
        return target


def copy_pyodide(out: Path) -> str:
    """Copy only the runtime files the shim needs; return the pinned version."""
    src = ROOT / "node_modules" / "pyodide"
    if not src.is_dir():
        raise SystemExit("node_modules/pyodide is missing: run `npm ci` first")
    dest = out / "pyodide"
    dest.mkdir(parents=True, exist_ok=True)
    for name in PYODIDE_FILES:
        shutil.copy2(src / name, dest / name)
    return str(json.loads((src / "package.json").read_text())["version"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--out", default=str(ROOT / "dist"), help="output directory [dist]")
    parser.add_argument(
        "--backend-url",
        default="",
        help="default backend URL baked into the site (for hosting dist/ apart)",
    )
    args = parser.parse_args(argv)
    if args.backend_url and not args.backend_url.startswith(("http://", "https://")):
        parser.error(f"--backend-url must be an http(s) URL, got {args.backend_url!r}")
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    wheel = build_wheel(out)
    version = copy_pyodide(out)
    shutil.copytree(ROOT / "web", out, dirs_exist_ok=True)
    manifest = {
        "wheel": wheel.name,
        "wheelSha256": hashlib.sha256(wheel.read_bytes()).hexdigest(),
        "pyodideVersion": version,
        "backendUrl": args.backend_url,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"built {out} ({wheel.name}, pyodide {version})")


if __name__ == "__main__":
    main()
