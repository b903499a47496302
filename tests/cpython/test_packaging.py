"""`python -m build` makes a wheel and an sdist that install into a clean venv, import, and
carry `py.typed`, so a user's mypy sees the client's types.

Offline: PyPA build runs without isolation (the project venv's hatchling), pip installs with
`--no-index` (the client has no dependencies). pip cannot build the sdist in a clean venv with
no index (it needs hatchling there), so the sdist is checked by building a wheel from the
unpacked sdist alone, out of the tree, and installing that.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "client_py" / "resilient_fetch"
MYPY = Path(sys.executable).with_name("mypy")
Completed = subprocess.CompletedProcess[str]

TYPED_OK = """
import asyncio
from resilient_fetch import Client, ClosedError, Response

async def main() -> int:
    async with Client("http://127.0.0.1:9/") as client:
        resp: Response = await client.get("items", params={"a": 1}, priority="high")
        await client.post("items", json={"n": 1}, timeout=2.5)
        text: str = client.metrics_text()
        await client.close(timeout=0)
    return resp.status + len(text) + len(ClosedError.code)
"""

# Each line is a type error mypy must report (the control: the types are really seen).
TYPED_BAD = {
    "wrong_result": "from resilient_fetch import Client\n"
    "async def f(c: Client) -> str:\n    return (await c.get('x')).status\n",
    "no_body_on_get": "from resilient_fetch import Client\n"
    "async def f(c: Client) -> None:\n    await c.get('x', json={})\n",
    "unknown_keyword": "from resilient_fetch import Client\n"
    "async def f(c: Client) -> None:\n    await c.post('x', jsn={})\n",
}


def run(args: list[str | Path], cwd: Path, timeout: float = 120) -> Completed:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def clean_venv(path: Path) -> Path:
    """A new venv with pip and nothing else (no system site-packages, not the project's)."""
    venv.EnvBuilder(with_pip=True, clear=True).create(path)
    return path / "bin" / "python"


def install_and_check(python: Path, artifact: Path, work: Path) -> None:
    pip = run([python, "-m", "pip", "install", "--no-index", "--no-deps", artifact], work)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    probe = run(
        [python, "-c", "import pathlib, resilient_fetch as rf; "
         "print(rf.__file__); print(pathlib.Path(rf.__file__).with_name('py.typed').is_file()); "
         "print(rf.Client.__name__, rf.ClosedError.code)"],
        work,
    )
    assert probe.returncode == 0, probe.stderr
    where, typed, names = probe.stdout.split("\n")[:3]
    assert str(python.parents[1]) in where and str(ROOT) not in where  # the installed copy
    assert typed == "True" and names == "Client CLOSED"
    mypy_against(python, work)


def mypy_against(python: Path, work: Path) -> None:
    """The project's mypy, pointed at the clean venv's interpreter (PEP 561 lookup there)."""
    config = work / "mypy.ini"
    config.write_text("[mypy]\nstrict = True\n")
    base = [MYPY, "--config-file", config, "--python-executable", python,
            "--cache-dir", work / ".mypy_cache", "--no-error-summary"]
    (work / "ok.py").write_text(TYPED_OK)
    ok = run([*base, work / "ok.py"], work)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    for name, source in TYPED_BAD.items():
        (work / f"{name}.py").write_text(source)
        bad = run([*base, work / f"{name}.py"], work)
        assert bad.returncode == 1 and f"{name}.py:" in bad.stdout, (name, bad.stdout)
    # Control for the marker itself: without py.typed the same snippet is refused.
    lib = python.parents[1] / "lib"
    marker = next(lib.glob("python*/site-packages/resilient_fetch/py.typed"))
    marker.unlink()
    try:
        untyped = run([*base, "--cache-dir", work / ".mypy_cache2", work / "ok.py"], work)
        assert untyped.returncode == 1 and "py.typed" in untyped.stdout, untyped.stdout
    finally:
        marker.write_text("")


@pytest.mark.timeout(240)
def test_wheel_and_sdist_install_into_a_clean_venv_with_their_types(tmp_path: Path) -> None:
    out = tmp_path / "dist"
    # Out of the tree: in the repo root `python -m build` would run our build.py.
    built = run([sys.executable, "-m", "build", "--no-isolation", "--outdir", out, ROOT], tmp_path)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (wheel,) = out.glob("resilient_fetch-*.whl")
    (sdist,) = out.glob("resilient_fetch-*.tar.gz")

    with tarfile.open(sdist) as tar:
        names = {Path(n).relative_to(Path(n).parts[0]).as_posix() for n in tar.getnames()}
        tar.extractall(tmp_path / "unpacked", filter="data")
    sources = {p.relative_to(ROOT).as_posix() for p in PACKAGE.glob("**/*") if p.is_file()
               and "__pycache__" not in p.parts}
    assert {"pyproject.toml", "client_py/resilient_fetch/py.typed"} <= names
    assert sources <= names, sorted(sources - names)

    work = tmp_path / "wheel-check"
    work.mkdir()
    install_and_check(clean_venv(tmp_path / "venv-wheel"), wheel, work)

    # The sdist alone builds an installable wheel (nothing from the repo tree).
    (unpacked,) = (tmp_path / "unpacked").iterdir()
    again = run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir",
                 tmp_path / "from-sdist", unpacked], tmp_path)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    (from_sdist,) = (tmp_path / "from-sdist").glob("resilient_fetch-*.whl")
    work = tmp_path / "sdist-check"
    work.mkdir()
    install_and_check(clean_venv(tmp_path / "venv-sdist"), from_sdist, work)
