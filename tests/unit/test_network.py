"""Network awareness: the monitor (states, debounce, probe backoff) and the gate stage."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

from resilient_fetch import (
    Client,
    ConfigError,
    FakeClock,
    MockTransport,
    NetworkError,
    OfflineError,
    Request,
    Response,
)
from resilient_fetch.config import NetworkConfig
from resilient_fetch.js_api import JsClient, create_client
from resilient_fetch.network import NetworkMonitor, default_probe_url

T = TypeVar("T")
BASE = "http://api.test"
URL = BASE + "/items"


async def drive(
    clock: FakeClock, coro: Coroutine[Any, Any, T] | asyncio.Future[T], step: float = 0.25
) -> T:
    """Run ``coro`` while advancing fake time in small steps."""
    task = asyncio.ensure_future(coro)
    while not task.done():
        if clock.now() > 600:
            task.cancel()
            raise AssertionError("did not finish in fake time")
        await clock.advance(step)
    return task.result()


class FakeBrowser:
    """A ``watch_network`` seam: the test flips online/offline like window events."""

    def __init__(self) -> None:
        self.callbacks: list[Callable[[bool], None]] = []
        self.attached = 0

    def watch(self, callback: Callable[[bool], None]) -> Callable[[], None]:
        self.callbacks.append(callback)
        self.attached += 1

        def off() -> None:
            self.callbacks.remove(callback)

        return off

    def set(self, online: bool) -> None:
        for cb in list(self.callbacks):
            cb(online)


class Server:
    """A MockTransport handler: the API and the probe can each be up or down."""

    def __init__(self) -> None:
        self.api_up = True
        self.health_up = True
        self.api_status = 200
        self.health_status = 200
        self.seen: list[str] = []

    def __call__(self, request: Request) -> Response:
        path = request.url.split(BASE, 1)[-1]
        self.seen.append(path)
        if path.startswith("/health/live"):
            if not self.health_up:
                raise NetworkError("refused", request=request)
            return Response(self.health_status, content=b"{}", request=request)
        if not self.api_up:
            raise NetworkError("refused", request=request)
        return Response(self.api_status, content=b"[]", request=request)

    def count(self, prefix: str) -> int:
        return sum(1 for p in self.seen if p.startswith(prefix))


class BrowserishTransport(MockTransport):
    def __init__(self, handler: Any, browser: FakeBrowser) -> None:
        super().__init__(handler)
        self.watch_network = browser.watch


def client_for(
    server: Server, clock: FakeClock, browser: FakeBrowser | None = None, **kwargs: Any
) -> Client:
    transport = MockTransport(server) if browser is None else BrowserishTransport(server, browser)
    kwargs.setdefault("timeout", {"total": 60})
    return Client(BASE, transport=transport, clock=clock, rng=random.Random(7), **kwargs)


def monitor(
    clock: FakeClock,
    probe: Any = None,
    browser: FakeBrowser | None = None,
    **cfg: Any,
) -> NetworkMonitor:
    return NetworkMonitor(
        NetworkConfig(**cfg),
        clock=clock,
        rng=random.Random(3),
        probe=probe,
        probe_url=BASE + "/health/live" if probe else None,
        watch=browser.watch if browser else None,
    )


# -- the monitor ------------------------------------------------------------------


def test_listeners_attach_on_first_subscriber_and_detach_on_last() -> None:
    browser = FakeBrowser()
    m = monitor(FakeClock(), browser=browser)
    assert not m.watching and browser.callbacks == []
    off1 = m.subscribe(lambda p: None)
    off2 = m.subscribe(lambda p: None)
    assert m.watching and len(browser.callbacks) == 1 and browser.attached == 1
    off1()
    assert m.watching
    off2()
    off2()  # twice is harmless
    assert not m.watching and browser.callbacks == []


async def test_browser_offline_is_debounced_then_reported() -> None:
    clock, browser = FakeClock(), FakeBrowser()
    m = monitor(clock, browser=browser, debounce=0.5)
    seen: list[dict[str, Any]] = []
    m.subscribe(seen.append)
    browser.set(False)
    assert not m.usable and m.state == "online"  # the gate knows at once, listeners after debounce
    await clock.advance(0.4)
    assert seen == []
    await clock.advance(0.2)
    assert seen == [{"from": "online", "to": "offline", "reason": "browser-offline"}]
    assert m.state == "offline" and m.since == clock.wall() - 0.1
    assert m.next_probe_in is None  # no probing while the browser says offline
    browser.set(True)
    await clock.advance(1)
    assert seen[-1] == {"from": "offline", "to": "online", "reason": "browser-online"}


async def test_a_flap_shorter_than_the_debounce_changes_nothing() -> None:
    clock, browser = FakeClock(), FakeBrowser()
    m = monitor(clock, browser=browser, debounce=1.0)
    seen: list[dict[str, Any]] = []
    m.subscribe(seen.append)
    for _ in range(5):
        browser.set(False)
        await clock.advance(0.9)
        browser.set(True)
        await clock.advance(0.5)
    await clock.advance(5)
    assert seen == [] and m.state == "online"


async def test_control_a_flap_longer_than_the_debounce_is_reported() -> None:
    # The control for the test above: the same flap, held past the debounce, is seen.
    clock, browser = FakeClock(), FakeBrowser()
    m = monitor(clock, browser=browser, debounce=1.0)
    seen: list[dict[str, Any]] = []
    m.subscribe(seen.append)
    browser.set(False)
    await clock.advance(1.1)
    browser.set(True)
    await clock.advance(1.1)
    assert [e["to"] for e in seen] == ["offline", "online"]


class ScriptedProbe:
    def __init__(self, clock: FakeClock, up_at: float = float("inf")) -> None:
        self.clock = clock
        self.up_at = up_at
        self.times: list[float] = []

    async def __call__(self) -> bool:
        self.times.append(self.clock.now())
        return self.clock.now() >= self.up_at


async def test_failed_probe_makes_unreachable_then_backs_off_with_jitter_until_up() -> None:
    clock = FakeClock()
    probe = ScriptedProbe(clock, up_at=40)
    m = monitor(clock, probe=probe, debounce=0, probe_base=1, probe_cap=8)
    seen: list[dict[str, Any]] = []
    m.subscribe(seen.append)
    m.record_failure(URL, NetworkError("refused"))
    await clock.advance(0)
    assert m.state == "unreachable" and seen[0]["reason"] == "probe-failed"
    assert 0.5 <= (m.next_probe_in or 0) <= 1.0
    await clock.advance(60)
    gaps = [b - a for a, b in zip(probe.times, probe.times[1:], strict=False)]
    # Equal jitter on min(cap, base * 2**n): each gap is in [half, full] of its step.
    for n, gap in enumerate(gaps):
        full = min(8, 2**n)
        assert full / 2 - 1e-9 <= gap <= full + 1e-9, (n, gaps)
    assert m.state == "online" and seen[-1] == {
        "from": "unreachable",
        "to": "online",
        "reason": "probe-ok",
    }
    assert m.next_probe_in is None


async def test_probe_now_runs_at_once_and_outcomes_of_other_origins_are_ignored() -> None:
    clock = FakeClock()
    probe = ScriptedProbe(clock)
    m = monitor(clock, probe=probe, debounce=0, probe_base=10, probe_cap=10)
    m.record_failure("http://elsewhere.test/x", NetworkError("refused"))
    await clock.advance(0)
    assert probe.times == [] and m.state == "online"
    m.record_failure(URL, NetworkError("refused"))
    await clock.advance(1)
    assert m.state == "unreachable" and len(probe.times) == 1
    probe.up_at = 0
    assert await m.probe_now() == "online"
    assert m.state == "online" and len(probe.times) == 2 and m.next_probe_in is None


async def test_an_http_answer_proves_reachability_and_a_doubt_needs_the_probe() -> None:
    clock = FakeClock()
    probe = ScriptedProbe(clock, up_at=0)
    m = monitor(clock, probe=probe, debounce=0, failures_to_unreachable=2)
    m.record_response(URL, 503)
    await clock.advance(0)
    assert probe.times == []  # one doubt of the two it takes
    m.record_response(URL, 503)
    await clock.advance(0)
    assert probe.times == [0.0] and m.state == "online"  # the probe said it is reachable
    m.record_response(URL, 503)
    m.record_response(URL, 503)
    await clock.advance(0)
    assert len(probe.times) == 1  # a good probe stands for probe_base seconds


def test_default_probe_url() -> None:
    assert (
        default_probe_url("http://api.test:8080/v1/", False) == "http://api.test:8080/health/live"
    )
    assert default_probe_url("", True) == "/health/live"  # the page resolves it
    assert default_probe_url("", False) is None  # no origin known: no probe
    client = Client(transport=MockTransport(Server()))
    assert client.network.probe_url is None and client.network.probe is None


def test_config_is_checked_and_named() -> None:
    with pytest.raises(ConfigError, match=r"network\.mode"):
        Client(network={"mode": "sometimes"})
    with pytest.raises(ConfigError, match=r"network\.probe_cap"):
        Client(network={"probe_base": 5, "probe_cap": 1})
    with pytest.raises(ConfigError, match=r"network\.probe_url"):
        Client(network={"probe_url": "ftp://x"})
    result = create_client({"network": {"probeCap": -1}})
    assert isinstance(result, dict) and result["error"]["field"] == "network.probeCap"


# -- the gate, through a client --------------------------------------------------


async def test_pause_waits_for_the_server_then_sends_without_burning_retries() -> None:
    clock, server = FakeClock(), Server()
    client = client_for(server, clock, network={"debounce": 0})
    events: list[dict[str, Any]] = []
    client.on("*", events.append)
    server.api_up = server.health_up = False

    async def recover() -> None:
        await clock.sleep(10)
        server.api_up = server.health_up = True

    recovery = asyncio.ensure_future(recover())
    task = asyncio.ensure_future(client.get(URL))
    await clock.advance(1)
    # Paused: the failed attempt is the network's fault, not the server's.
    assert client.breaker(URL).snapshot()["failures"]["consecutiveFailures"] == 0
    resp = await drive(clock, task)
    assert resp.status == 200
    assert server.count("/items") == 2  # the attempt that failed, and one after recovery
    assert server.count("/health/live") >= 2
    assert not [e for e in events if e["event"] == "retry"]
    assert recovery.done()
    network = [e for e in events if e["event"] == "network"]
    assert [(e["from"], e["to"]) for e in network] == [
        ("online", "unreachable"),
        ("unreachable", "online"),
    ]
    assert client.state()["network"]["state"] == "online"


async def test_control_without_the_gate_the_same_outage_burns_retries() -> None:
    clock, server = FakeClock(), Server()
    client = client_for(server, clock, network={"mode": "always"}, retry={"max_retries": 2})
    assert "network" not in client.pipeline.names
    server.api_up = False
    with pytest.raises(NetworkError) as info:
        await drive(clock, client.get(URL))
    assert not isinstance(info.value, OfflineError)
    assert server.count("/items") == 3 and server.count("/health") == 0
    assert client.breaker(URL).snapshot()["failures"]["consecutiveFailures"] == 3


async def test_pause_is_bounded_by_the_deadline() -> None:
    clock, server = FakeClock(), Server()
    client = client_for(server, clock, timeout={"total": 5}, network={"debounce": 0})
    server.api_up = server.health_up = False
    with pytest.raises(OfflineError, match="unreachable") as info:
        await drive(clock, client.get(URL))
    assert info.value.code == "OFFLINE"
    assert 5 <= clock.now() <= 5.5
    assert server.count("/items") == 1


async def test_fail_mode_fails_at_once_with_offline() -> None:
    clock, server = FakeClock(), Server()
    client = client_for(server, clock, network={"mode": "fail", "debounce": 0})
    server.api_up = server.health_up = False
    with pytest.raises(OfflineError):
        await drive(clock, client.get(URL))
    with pytest.raises(OfflineError):
        await drive(clock, client.get(URL))
    assert server.count("/items") == 1  # the second call never went out


async def test_a_sick_api_on_a_reachable_server_is_the_retry_stage_s_business() -> None:
    clock, server = FakeClock(), Server()
    client = client_for(server, clock, retry={"max_retries": 1, "base": 0.1})
    server.api_status = 503
    resp = await drive(clock, client.get(URL))
    assert resp.status == 503 and server.count("/items") == 2
    assert client.network.state == "online" and server.count("/health/live") == 1


async def test_api_and_probe_down_is_unreachable_even_with_http_answers() -> None:
    clock, server = FakeClock(), Server()
    client = client_for(server, clock, network={"debounce": 0})
    server.api_status = server.health_status = 503  # a `down` fault answers 503
    task = asyncio.ensure_future(client.get(URL))
    await clock.advance(1)
    assert client.network.state == "unreachable"
    assert client.state()["network"]["paused"] == 1
    server.api_status = server.health_status = 200
    await clock.advance(70)
    assert (await task).status == 200
    assert client.network.state == "online"


async def test_browser_offline_pauses_and_resume_is_spread_over_the_jitter() -> None:
    clock, server, browser = FakeClock(), Server(), FakeBrowser()
    client = client_for(server, clock, browser, network={"resume_jitter": 2.0})
    sent: list[float] = []
    real = server.__call__

    def handler(request: Request) -> Response:
        sent.append(clock.now())
        return real(request)

    client.transport.handler = handler  # type: ignore[attr-defined]
    browser.set(False)
    tasks = [asyncio.ensure_future(client.get(f"{URL}?n={i}")) for i in range(20)]
    await clock.advance(5)
    assert sent == [] and client.network.state == "offline"
    assert client.state()["network"]["paused"] == 20
    browser.set(True)
    await clock.advance(0)
    assert sent == []  # not all at once
    await clock.advance(3)
    results = await asyncio.gather(*tasks)
    assert all(r.status == 200 for r in results)
    assert len(sent) == 20 and min(sent) > 5 and max(sent) <= 7.0
    assert len(set(sent)) > 10  # spread, not a herd
    await client.close()
    assert browser.callbacks == []  # close() detaches the browser listeners


async def test_the_js_api_reports_the_network_and_probes_on_demand() -> None:
    clock, server = FakeClock(), Server()
    client = client_for(server, clock, network={"debounce": 0})
    js = JsClient(client)
    snap = json.loads(js.network())
    assert snap["state"] == "online" and snap["nextProbeIn"] is None
    assert snap["probeUrl"] == BASE + "/health/live"
    assert json.loads(await js.probe_now())["probes"] == 1
    assert server.count("/health/live") == 1
