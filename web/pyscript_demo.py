"""PyScript page code: the resilient-fetch client from Python, against the demo backend.

pyscript.toml makes PyScript load Pyodide from this site and unpack the client
wheel into site-packages, so this is a plain import. The client's transport is
``BrowserTransport`` (the browser's fetch) because it runs under Pyodide.
"""

import json
import random

import js
from pyodide.http import pyfetch
from pyscript import document, when

from resilient_fetch import BrowserTransport, Client, ResilienceError


def _scope() -> str:
    """This tab's fault scope: ``?scope=`` if given, else a fresh one kept for the tab."""
    given = js.URLSearchParams.new(js.location.search).get("scope")
    if isinstance(given, str) and given:
        return given
    kept = js.sessionStorage.getItem("rf-pyscript-scope")
    if isinstance(kept, str) and kept:
        return kept
    scope = f"pyscript-{random.randrange(16**8):08x}"
    js.sessionStorage.setItem("rf-pyscript-scope", scope)
    return scope


SCOPE = _scope()
URL = "api/items"


class CountAttempts:
    """A stage just before the transport: counts the attempts really sent."""

    name = "count_attempts"

    def __init__(self) -> None:
        self.sent = 0

    async def __call__(self, call, next):
        self.sent += 1
        return await next(call)


counter = CountAttempts()
# Short timings, so retries and the breaker show within a few seconds. The
# backend is this page's own origin (one breaker for it): "/" is resolved
# against the page, as fetch would resolve it.
client = Client(
    "/",
    transport=BrowserTransport(),
    headers={"X-Fault-Scope": SCOPE},
    retry={"max_retries": 3, "base": 0.2, "cap": 1.0},
    breaker={"failure_threshold": 3, "open_for": 15},
    stages=[counter],
)


def _text(element_id: str, text: str) -> None:
    document.getElementById(element_id).textContent = text


def _log(text: str) -> None:
    item = document.createElement("li")
    item.textContent = text
    events = document.getElementById("events")
    events.prepend(item)


def _show_breaker() -> None:
    state = client.breaker(URL).state
    element = document.getElementById("breaker")
    element.textContent = state
    element.className = f"breaker-{state}"
    # Keyed by the page's origin: "/" was resolved against the page, as fetch does.
    document.getElementById("breaker-key").textContent = ", ".join(client.state()["breakers"])


client.on("retry", lambda e: _log(f"retry #{e['attempt']} in {e['delay']:.2f} s ({e['reason']})"))
client.on("breaker", lambda e: (_log(f"breaker {e['from']} -> {e['to']}"), _show_breaker()))


async def _admin(path: str, spec: dict | None = None) -> dict:
    """The backend's fault API, in this tab's scope (a remote control, not through the client)."""
    resp = await pyfetch(
        path,
        method="POST",
        headers={"Content-Type": "application/json", "X-Fault-Scope": SCOPE},
        body=json.dumps(spec) if spec is not None else None,
    )
    body = await resp.json()
    if not resp.ok:
        raise RuntimeError(f"{resp.status}: {body}")
    return body


@when("click", "#get")
async def get_items(event) -> None:
    before = counter.sent
    _text("result", "…")
    try:
        resp = await client.get(URL)
    except ResilienceError as err:
        _text("result", f"{err.code}: {err}")
        _log(f"GET {URL} failed: {err.code}")
    else:
        _text("result", f"{resp.status} {resp.reason}, {len(resp.json()['items'])} items")
        _log(f"GET {URL}: {resp.status}")
    _text("attempts", str(counter.sent - before))
    _show_breaker()


@when("click", "#flaky")
async def make_flaky(event) -> None:
    await _admin("_faults", {"type": "flaky", "fail_first_n": 2, "code": 503, "match": f"/{URL}"})
    _text("faults", "flaky: next 2 reads get 503")


@when("click", "#down")
async def take_down(event) -> None:
    await _admin("_faults", {"type": "down", "match": f"/{URL}*"})
    _text("faults", "down: every read gets 503")


@when("click", "#clear")
async def clear_faults(event) -> None:
    await _admin("_faults/reset")
    _text("faults", "none")


@when("click", "#reset-breaker")
def reset_breaker(event) -> None:
    client.breaker(URL).reset()
    _show_breaker()


_text("scope", SCOPE)
_show_breaker()
for button in document.querySelectorAll("button"):
    button.disabled = False
status = document.getElementById("status")
status.textContent = "Python ready"
status.className = "status ready"
