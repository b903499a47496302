"""Build ``dist/``: a static site holding the client wheel, the Pyodide runtime and ``web/``.

    python build.py [--out dist] [--backend-url URL] [--no-snapshot]

Any static file server can host the result, as long as it serves ``.wasm`` as
``application/wasm`` and ``.mjs``/``.js`` as ``text/javascript``.

Start-up: the build boots the pinned Pyodide once under Node, installs the
wheel, imports the client and the stdlib modules it uses, and writes that
interpreter's memory as ``python-snapshot.<hash>.bin``. The shim restores it
instead of initialising Python and importing the client, which is most of the
start-up time and the long main-thread task. The manifest records the wheel
hash and Pyodide version the snapshot was made from; the shim boots plain when
they do not match what it serves, or when there is no snapshot. The name is
content-addressed, so a host may cache it for good (``immutable``).
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


def write_npm_package(out: Path, manifest: dict[str, object]) -> None:
    """``dist/package.json``: ``npm pack dist`` gives a package a page can serve as it is.

    It holds the shim, its types, the manifest, the wheel, the snapshot and the
    Pyodide runtime: everything the shim loads from beside itself. The demo
    page, its service worker (it precaches the demo's own files) and vendor/
    (the demo's charts and PyScript) stay out.
    """
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    snapshot = manifest.get("snapshot")
    files = ["resilient-fetch.js", "resilient-fetch.d.ts", "manifest.json", str(manifest["wheel"])]
    if isinstance(snapshot, dict):
        files.append(str(snapshot["file"]))
    files += [f"pyodide/{name}" for name in PYODIDE_FILES]
    package = {
        "name": "@resilient-fetch/browser",
        "version": project["version"],
        "description": "resilient-fetch in the browser: the JS shim, its types, the client "
        "wheel and the Pyodide runtime, served from your own origin",
        "license": project["license"],
        "type": "module",
        "main": "./resilient-fetch.js",
        "module": "./resilient-fetch.js",
        "types": "./resilient-fetch.d.ts",
        "exports": {
            ".": {"types": "./resilient-fetch.d.ts", "default": "./resilient-fetch.js"},
            "./package.json": "./package.json",
        },
        "files": files,
    }
    (out / "package.json").write_text(json.dumps(package, indent=2) + "\n")


# Third-party browser files the site serves itself (no CDN), copied from
# node_modules (pinned in package.json) into dist/vendor/<package>/.
VENDOR: dict[str, tuple[str, ...]] = {
    "uplot": ("dist/uPlot.esm.js", "dist/uPlot.min.css", "LICENSE"),
    "tus-js-client": ("dist/tus.min.js", "LICENSE"),
    "@pyscript/core": ("dist",),  # core.js loads its chunks lazily: the whole folder
}


def copy_vendor(out: Path) -> None:
    """Copy each vendored package's files (a folder entry copies the folder)."""
    for package, files in VENDOR.items():
        src = ROOT / "node_modules" / package
        if not src.is_dir():
            raise SystemExit(f"node_modules/{package} is missing: run `npm ci` first")
        dest = out / "vendor" / package
        for name in files:
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if (src / name).is_dir():
                shutil.copytree(src / name, target, ignore=shutil.ignore_patterns("*.map"))
            else:
                shutil.copy2(src / name, target)


# Imported into the snapshot: the client's modules and, through them, every
# stdlib module a request needs (asyncio, json, re, email.utils, urllib.parse...).
SNAPSHOT_IMPORTS = (
    "resilient_fetch",
    "resilient_fetch.js_api",
    "resilient_fetch.transports.browser",
)
# Runs under Node with the pinned Pyodide: argv = pyodide.mjs URL, wheel, output file, imports.
SNAPSHOT_SCRIPT = r"""
import fs from "node:fs";
const [pyodideUrl, wheelPath, outPath, imports] = process.argv.slice(2);
const { loadPyodide } = await import(pyodideUrl);
const py = await loadPyodide({ _makeSnapshot: true });
const site = py.runPython("import site; site.getsitepackages()[0]");
py.unpackArchive(new Uint8Array(fs.readFileSync(wheelPath)), "wheel", { extractDir: site });
py.runPython(`import ${imports}`);
fs.writeFileSync(outPath, py.makeMemorySnapshot());
"""


def make_snapshot(out: Path, wheel: Path, wheel_sha256: str, version: str) -> dict[str, object]:
    """Write a Pyodide memory snapshot with the client imported; return its manifest entry."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not on PATH")
    pyodide_mjs = (ROOT / "node_modules" / "pyodide" / "pyodide.mjs").as_uri()
    tmp = out / "python-snapshot.tmp"
    try:
        subprocess.run(
            [
                node,
                "--input-type=module",
                "-",
                pyodide_mjs,
                str(wheel),
                str(tmp),
                ", ".join(SNAPSHOT_IMPORTS),
            ],
            input=SNAPSHOT_SCRIPT,
            text=True,
            check=True,
            capture_output=True,
            timeout=300,
        )
    except subprocess.CalledProcessError as exc:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(exc.stderr.strip().splitlines()[-1:] or exc) from None
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    target = out / f"python-snapshot.{digest[:16]}.bin"
    tmp.rename(target)
    return {
        "file": target.name,
        "sha256": digest,
        "bytes": target.stat().st_size,
        # What it was made from: the shim boots plain when either differs.
        "wheelSha256": wheel_sha256,
        "pyodideVersion": version,
        "imports": list(SNAPSHOT_IMPORTS),
    }


def stamp_service_worker(out: Path) -> None:
    """Give ``sw.js`` a build id (a hash of every other file), so each build caches anew."""
    sw = out / "sw.js"
    if not sw.is_file():
        return
    digest = hashlib.sha256()
    for path in sorted(p for p in out.rglob("*") if p.is_file() and p != sw):
        digest.update(path.relative_to(out).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    sw.write_text(sw.read_text().replace("__BUILD_ID__", digest.hexdigest()[:16]))


def stamp_pyscript_config(out: Path, wheel: str) -> None:
    """Name the built wheel in ``pyscript.toml`` (PyScript fetches and unpacks it by URL)."""
    config = out / "pyscript.toml"
    if config.is_file():
        config.write_text(config.read_text().replace("__WHEEL__", wheel))


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
    parser.add_argument(
        "--no-snapshot",
        action="store_true",
        help="skip the start-up memory snapshot (the shim then boots Python plain)",
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
    copy_vendor(out)
    wheel_sha256 = hashlib.sha256(wheel.read_bytes()).hexdigest()
    manifest: dict[str, object] = {
        "wheel": wheel.name,
        "wheelSha256": wheel_sha256,
        "pyodideVersion": version,
        "backendUrl": args.backend_url,
    }
    if not args.no_snapshot:
        try:
            manifest["snapshot"] = make_snapshot(out, wheel, wheel_sha256, version)
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            # The site still works, it only starts slower: say so, do not fail the build.
            print(f"warning: no start-up snapshot ({exc}); the page will boot Python plain")
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    write_npm_package(out, manifest)
    stamp_pyscript_config(out, wheel.name)
    stamp_service_worker(out)
    snap = manifest.get("snapshot")
    note = f", snapshot {snap['file']}" if isinstance(snap, dict) else ", no snapshot"
    print(f"built {out} ({wheel.name}, pyodide {version}{note})")


if __name__ == "__main__":
    main()
