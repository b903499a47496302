"""Properties: whatever a caller passes, the client answers or raises a ResilienceError.

Any string as a URL, any header name and value, any settings mapping (from
Python or as a JS object), and any rate-limit headers a server sends: the
result is a response or a ``ResilienceError`` with a code, never another
exception, and ``state()`` stays strict JSON (no NaN or Infinity).
Derandomised, so a CI run is the same every time.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resilient_fetch import (
    Client,
    ConfigError,
    FakeClock,
    InvalidRequestError,
    MockTransport,
    Request,
    ResilienceError,
    Response,
)
from resilient_fetch._models import Headers
from resilient_fetch.config import (
    BreakerConfig,
    LimiterConfig,
    QueueConfig,
    RateLimitRule,
    RetryConfig,
)
from resilient_fetch.js_api import create_client
from unit._support import examples, run

PROPS = settings(
    max_examples=examples(300),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


def ok(request: Request) -> Response:
    return Response(200, url=request.url)


def quiet_client(**kwargs: Any) -> Client:
    return Client(
        transport=MockTransport(ok),
        clock=FakeClock(),
        rng=random.Random(1),
        retry={"max_retries": 0},
        **kwargs,
    )


urls = st.one_of(
    st.text(max_size=80),
    st.builds(
        lambda scheme, rest: f"{scheme}{rest}",
        st.sampled_from(["http://", "https://", "HTTP://", "ftp://", "//", "http:", ""]),
        st.text(max_size=60),
    ),
)


@PROPS
@given(url=urls)
def test_any_string_as_url_gives_a_response_or_invalid_request(url: str) -> None:
    client = quiet_client()
    try:
        resp = run(client.get(url))
    except InvalidRequestError as exc:
        assert exc.code == "INVALID_REQUEST"
        assert client.state()["breakers"] == {}  # refused before any policy
    else:
        assert resp.status == 200
    json.dumps(client.state(), allow_nan=False)


@PROPS
@given(name=st.text(max_size=30), value=st.text(max_size=60))
def test_any_header_gives_a_response_or_invalid_request(name: str, value: str) -> None:
    client = quiet_client()
    try:
        resp = run(client.get("http://api.test/", headers={name: value}))
    except InvalidRequestError as exc:
        assert exc.field == "headers"
    else:
        assert resp.status == 200
        sent = client.transport.requests[-1].headers  # type: ignore[attr-defined]
        assert sent[name] == value


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
SECTIONS = {
    "breaker": BreakerConfig,
    "limiter": LimiterConfig,
    "queue": QueueConfig,
    "retry": RetryConfig,
}


@st.composite
def settings_mappings(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    section = draw(st.sampled_from(sorted(SECTIONS)))
    known = [f for f in SECTIONS[section].__dataclass_fields__ if not f.startswith("_")]
    keys = st.sampled_from(known) | st.text(max_size=12)
    return section, draw(st.dictionaries(keys, json_values, max_size=4))


def assert_names_a_real_field(field: str, section: str, given: dict[str, Any]) -> None:
    """The error names what the caller wrote: a key they passed, or a known field path."""
    if field == section or field[len(section) + 1 :] in given:
        return
    head, _, rest = field.partition(".")
    assert head == section, field
    name, _, tail = rest.partition(".")
    if section == "limiter" and name.startswith("rules["):
        assert tail.split(".")[0] in RateLimitRule.__dataclass_fields__, field
        return
    assert name.split("[")[0] in SECTIONS[section].__dataclass_fields__, field
    assert "[]" not in name, field  # an index the caller can find, not a bare []
    assert not tail or name == "max_wait", field


def test_the_field_check_can_fail() -> None:
    """Control: a made-up path that a policy, not the config, would name is refused."""
    try:
        assert_names_a_real_field("limiter.default.rate", "limiter", {"rate": 5})
    except AssertionError:
        return
    raise AssertionError("the check accepted a field no caller wrote")


@PROPS
@given(spec=settings_mappings())
def test_any_settings_mapping_builds_a_client_or_a_config_error(
    spec: tuple[str, dict[str, Any]],
) -> None:
    section, mapping = spec
    try:
        client = Client(transport=MockTransport(ok), **{section: mapping})
    except ConfigError as exc:
        assert_names_a_real_field(exc.field, section, mapping)
        return
    # Whatever was accepted is finite and usable.
    json.dumps(client.state(), allow_nan=False)


@PROPS
@given(options=st.dictionaries(st.text(max_size=12), json_values, max_size=4))
def test_any_js_options_object_gives_a_client_or_error_data(options: dict[str, Any]) -> None:
    out = create_client(options)
    if isinstance(out, dict):
        assert out["ok"] is False and out["error"]["code"] in {"CONFIG", "INVALID_REQUEST"}
        json.dumps(out, allow_nan=False)


header_values = st.one_of(
    st.text(max_size=40),
    st.integers(-(10**6), 10**6).map(str),
    st.just("9" * 400),
    st.sampled_from(["inf", "nan", "1e400", "-1", "Wed, 21 Oct 2015 07:28:00 GMT", "0.5"]),
)


@PROPS
@given(
    status=st.sampled_from([200, 429, 503]),
    retry_after=header_values,
    remaining=st.none() | header_values,
    reset=st.none() | header_values,
)
def test_any_rate_limit_headers_keep_state_finite(
    status: int, retry_after: str, remaining: str | None, reset: str | None
) -> None:
    headers = {"Retry-After": retry_after}
    if remaining is not None:
        headers["RateLimit-Remaining"] = remaining
    if reset is not None:
        headers["RateLimit-Reset"] = reset

    def handler(request: Request) -> Response:
        return Response(status, Headers(headers))

    client = Client(transport=MockTransport(handler), clock=FakeClock(), retry={"max_retries": 0})
    with contextlib.suppress(ResilienceError):  # e.g. RATE_LIMITED: fine, not the point
        run(client.get("http://api.test/"))
    state = client.state()
    json.dumps(state, allow_nan=False)
    for entry in state["limiter"].values():
        assert math.isfinite(entry["cooldown"]) and entry["cooldown"] <= 60.0
