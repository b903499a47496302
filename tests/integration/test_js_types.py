"""web/resilient-fetch.d.ts against what really exists, so the types cannot drift.

Both sides are read by running code, not by regex: the shim's members come from
running the shim unchanged under Node with Pyodide faked (types/shim-keys.mjs),
the declarations from the TypeScript checker (types/inspect-dts.mjs), and the
Python side (error codes, event names, option fields, loader options) from the
package itself. A member, code, event or option on one side only fails a test
naming it. The last tests prove the comparison can fail: a shim with one more
method, and declarations with one fewer, are both caught.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from resilient_fetch import _errors, config
from resilient_fetch._events import EVENT_NAMES
from resilient_fetch.js_api import JsClient, to_camel
from resilient_fetch.loader import Loader

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
DTS = WEB / "resilient-fetch.d.ts"
SHIM = WEB / "resilient-fetch.js"

# What a page holds -> the d.ts interface that must declare exactly its members.
OBJECTS = {
    "client": "ResilientClient",
    "outbox": "OutboxAPI",
    "loader": "BatchLoader",
    "upload": "UploadHandle",
}
# UploadHandle extends Promise: only what the shim adds to the promise is compared.
PROMISE_MEMBERS = {"then", "catch", "finally"}


def _node(script: str, *args: Path) -> dict[str, Any]:
    node = shutil.which("node")
    assert node, "node is not on PATH (make test installs it with the project set-up)"
    proc = subprocess.run(
        [node, "--no-warnings", str(ROOT / "types" / script), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 0, f"{script} failed:\n{proc.stderr}"
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def _declared(dts: Path = DTS) -> dict[str, Any]:
    info = _node("inspect-dts.mjs", dts)
    assert not info["diagnostics"], f"{dts.name} does not compile: {info['diagnostics']}"
    return info


def _shim(shim: Path = SHIM) -> dict[str, list[str]]:
    return _node("shim-keys.mjs", shim)


def drift(shim: dict[str, list[str]], dts: dict[str, Any]) -> list[str]:
    """Every member present on one side only, as readable lines (empty: in step)."""
    problems = []
    pairs = [("module exports", shim["module"], dts["values"])]
    for obj, iface in OBJECTS.items():
        declared = [
            name
            for name in dts["interfaces"][iface]
            if name not in PROMISE_MEMBERS and not name.startswith("__@")  # [Symbol.toStringTag]
        ]
        pairs.append((f"{obj} ({iface})", shim[obj], declared))
    for what, real, declared in pairs:
        for name in sorted(set(real) - set(declared)):
            problems.append(f"{what}: the shim has {name!r}, the d.ts does not declare it")
        for name in sorted(set(declared) - set(real)):
            problems.append(f"{what}: the d.ts declares {name!r}, the shim has no such member")
    return problems


@pytest.fixture(scope="module")
def declared() -> dict[str, Any]:
    return _declared()


def test_the_shims_objects_and_the_declarations_have_the_same_members(
    declared: dict[str, Any],
) -> None:
    assert drift(_shim(), declared) == []


def _codes() -> set[str]:
    found = set()
    todo = [_errors.ResilienceError]
    while todo:
        cls = todo.pop()
        found.add(cls.code)
        todo.extend(cls.__subclasses__())
    # Every error class in the module, even one not derived from ResilienceError by mistake.
    found |= {
        obj.code
        for obj in vars(_errors).values()
        if inspect.isclass(obj) and isinstance(getattr(obj, "code", None), str)
    }
    return found


def test_every_error_code_is_in_the_code_union_and_has_its_details(
    declared: dict[str, Any],
) -> None:
    codes = _codes()
    assert set(declared["unions"]["ErrorCode"]) == codes
    assert set(declared["interfaces"]["ErrorDetailsExtra"]) == codes


def test_every_event_is_in_the_event_map(declared: dict[str, Any]) -> None:
    assert set(declared["interfaces"]["ClientEventMap"]) == EVENT_NAMES - {"*"}
    assert set(declared["unions"]["ClientEventName"]) == EVENT_NAMES - {"*"}


def _fields(cls: type) -> set[str]:
    return {to_camel(f.name) for f in dataclasses.fields(cls)}


def test_create_client_options_are_the_ones_js_api_accepts(declared: dict[str, Any]) -> None:
    options = declared["shapes"]["ClientOptions"]
    assert set(options) == {to_camel(name) for name in JsClient._CLIENT_OPTIONS}
    sections = {
        getattr(cls, "_section", None): cls
        for cls in vars(config).values()
        if inspect.isclass(cls) and dataclasses.is_dataclass(cls)
    }
    checked = []
    for name in sorted(JsClient._CLIENT_OPTIONS):
        if name in sections:
            assert set(options[to_camel(name)]) == _fields(sections[name]), name
            checked.append(name)
    groups = {"breaker", "limiter", "queue", "retry", "timeout", "network", "outbox", "cache"}
    assert set(checked) >= groups | {"dedupe"}  # each group was compared field by field
    assert set(declared["shapes"]["LimiterOptions"]["rules"]) == _fields(config.RateLimitRule)


def test_per_call_resilience_options_are_request_options(declared: dict[str, Any]) -> None:
    assert set(declared["interfaces"]["ResilienceInit"]) == _fields(config.RequestOptions)


def test_loader_options_are_the_loaders_keywords(declared: dict[str, Any]) -> None:
    params = inspect.signature(Loader.__init__).parameters
    python_side = {to_camel(p) for p in params if p not in {"self", "send", "cache", "clock"}}
    assert set(declared["interfaces"]["LoaderOptions"]) == python_side


# -- the checks can fail ---------------------------------------------------------------


def test_a_shim_method_without_a_declaration_is_caught(
    tmp_path: Path, declared: dict[str, Any]
) -> None:
    web = shutil.copytree(WEB, tmp_path / "web")
    shim = web / "resilient-fetch.js"
    text = shim.read_text()
    marker = "    /** A plain-object snapshot"
    assert marker in text, "the probe needs a new anchor in the shim's client object"
    shim.write_text(text.replace(marker, "    untypedMethod() { return 1; },\n" + marker, 1))
    # Compared with the real shim's report, so any real drift (the test above) does not matter here.
    caught = set(drift(_shim(shim), declared)) - set(drift(_shim(), declared))
    assert caught == {
        "client (ResilientClient): the shim has 'untypedMethod', the d.ts does not declare it"
    }


def test_a_declaration_without_a_shim_member_is_caught(tmp_path: Path) -> None:
    text = DTS.read_text()
    declared_twice = re.sub(
        r"(\n  /\*\* Probe the health URL now)",
        r"\n  /** Not in the shim. */\n  refetchAll(): void;\1",
        text,
        count=1,
    )
    assert declared_twice != text
    dts = tmp_path / "resilient-fetch.d.ts"
    dts.write_text(declared_twice)
    shim = _shim()
    caught = set(drift(shim, _declared(dts))) - set(drift(shim, _declared()))
    assert caught == {
        "client (ResilientClient): the d.ts declares 'refetchAll', the shim has no such member"
    }
