"""The OpenAPI 3.1 document, and schemathesis fuzzing the live backend from it.

schemathesis runs its example, coverage (boundary values and type
violations for every field) and fuzzing phases for each operation,
derandomised (``derandomize=True``, no example database) so CI sees the same
cases every run, and bounded by ``max_examples`` (the module takes about
10 s). The server is the hardened waitress server ``make demo``
runs. Each case runs against a clean fault registry: a fault the fuzzer
created (a ``hang`` on ``*``, say) is reset before the next case.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from demo_backend import create_app
from demo_backend.openapi import document
from demo_backend.serving import serve_in_thread

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# tus PATCH bodies (uploads.py) are raw bytes under their own media type.
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")
SCHEMA = schemathesis.openapi.from_dict(document())
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=25,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    app = create_app(
        {"TESTING": True, "FAULTS": True, "FAULT_SEED": 1, "HANG_MAX_S": 1.0, "ACCESS_LOG": False}
    )
    with serve_in_thread(app, server="waitress") as url:
        yield url


def test_openapi_json_is_served_and_valid(base_url: str) -> None:
    resp = requests.get(base_url + "/openapi.json", timeout=5)
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/json"
    served = resp.json()
    validate(served)  # raises on an invalid OpenAPI 3.1 document
    assert served["openapi"].startswith("3.1")
    assert served == document()
    assert {"/api/items", "/api/items/{item_id}", "/_faults", "/health"} <= set(served["paths"])


def test_openapi_json_omits_the_fault_api_when_it_is_off() -> None:
    served = create_app({"TESTING": True}).test_client().get("/openapi.json").json
    validate(served)
    assert not [p for p in served["paths"] if p.startswith("/_")]


@SCHEMA.parametrize()
@FUZZ
def test_schemathesis_fuzzes_every_operation(case: schemathesis.Case, base_url: str) -> None:
    try:
        case.call_and_validate(base_url=base_url, checks=CHECKS, timeout=10)
    finally:
        requests.post(base_url + "/_faults/reset", timeout=5)
