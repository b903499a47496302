"""Hypothesis: the backend's request parsers return a value or their own 4xx error, never raise.

Derandomised (the same examples every run, no database), a few seconds in all.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from demo_backend import create_app, faults
from demo_backend.api import Invalid, validate_item
from demo_backend.errors import BodyError
from demo_backend.faults import FaultSpecError

FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=200,
    suppress_health_check=list(HealthCheck),
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)
field_names = st.sampled_from(
    [*faults.COMMON_FIELDS, *{f for cls in faults.TYPES.values() for f in cls.FIELDS}, "x"]
)
fault_specs = st.dictionaries(field_names, json_values, max_size=8) | st.fixed_dictionaries(
    {"type": st.sampled_from(sorted(faults.TYPES)) | json_values},
    optional={
        name: json_values | st.text() | st.integers()
        for name in ("name", "match", "methods", "toxicity", "count", "scope", "limit", "code")
    },
)
APP: Flask = create_app({"TESTING": True, "FAULTS": True, "ACCESS_LOG": False})


@FUZZ
@given(spec=fault_specs | json_values)
def test_fault_spec_parser_never_raises_anything_else(spec: Any) -> None:
    try:
        args = faults.parse(spec)
    except FaultSpecError as exc:
        assert exc.field and exc.to_dict()["error"] == "invalid_fault"
        return
    faults.build(spec["type"], **{**args, "name": args["name"] or "n"})


@FUZZ
@given(
    limit=st.text(max_size=80) | st.from_regex(r"[0-9]{1,400} ?(/| per )[0-9 ]{0,400}[a-z]{0,8}")
)
def test_rate_limit_parser_never_raises_anything_else(limit: str) -> None:
    try:
        faults.RateLimit.parse_fields({"limit": limit})
    except FaultSpecError as exc:
        assert exc.field == "limit"


@FUZZ
@given(scope=json_values)
def test_scope_parser_never_raises_anything_else(scope: Any) -> None:
    try:
        faults.check_scope(scope)
    except FaultSpecError as exc:
        assert exc.field == "scope"


@FUZZ
@given(data=json_values, partial=st.booleans())
def test_item_validator_never_raises_anything_else(data: Any, partial: bool) -> None:
    try:
        with APP.app_context():  # the errors carry ready-made JSON responses
            fields = validate_item(data, partial=partial)
    except (Invalid, BodyError):
        return
    assert set(fields) <= {"name", "done"}


@FUZZ
@given(
    ids=st.text(max_size=200) | st.lists(st.text(alphabet="0123456789٣", max_size=30)).map(",".join)
)
def test_batch_query_is_never_a_server_error(ids: str) -> None:
    resp = APP.test_client().get("/api/items/batch", query_string={"ids": ids})
    assert resp.status_code in (200, 422), resp.get_data(as_text=True)[:200]


@FUZZ
@given(body=json_values)
def test_batch_body_is_never_a_server_error(body: Any) -> None:
    resp = APP.test_client().post("/api/batch", json=body)
    # 415: the test client sends no body (nor a JSON type) for None.
    assert resp.status_code in (200, 400, 415, 422), resp.get_data(as_text=True)[:200]


@FUZZ
@given(
    segment=st.text(max_size=40).filter(lambda s: "/" not in s and s not in ("", ".", "..")),
    method=st.sampled_from(["GET", "PUT", "PATCH", "DELETE", "POST"]),
)
def test_item_paths_are_never_a_server_error(segment: str, method: str) -> None:
    resp = APP.test_client().open(f"/api/items/{segment}", method=method, json={"name": "x"})
    assert resp.status_code < 500 and resp.is_json


@FUZZ
@given(
    key=st.text(max_size=300),
    scope=st.text(max_size=80),
)
def test_header_parsers_are_never_a_server_error(key: str, scope: str) -> None:
    headers = {"Idempotency-Key": key, "X-Fault-Scope": scope}
    try:
        resp = APP.test_client().post("/api/items", json={"name": "x"}, headers=headers)
    except (UnicodeEncodeError, ValueError):
        return  # not a valid header value: werkzeug's test client refuses to send it
    assert resp.status_code in (201, 400, 422), resp.get_data(as_text=True)[:200]
