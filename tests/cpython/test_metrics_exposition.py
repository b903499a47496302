"""metrics_text() read back by the real Prometheus parser (prometheus_client is not in
Pyodide, so this lives here; tests/unit/test_metrics_text.py checks the exact text)."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from unit.test_metrics_text import STATE, sample_metrics

from resilient_fetch import Client, FakeClock, MockTransport, Response
from resilient_fetch.exposition import metrics_text


def families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(fams: dict[str, Any], family: str, sample: str, **labels: str) -> float:
    for s in fams[family].samples:
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
            return float(s.value)
    raise AssertionError(f"no {sample} {labels}")


def test_the_parser_reads_every_family_type_label_and_value() -> None:
    metrics = sample_metrics()
    text = metrics_text({**STATE, "metrics": {"outcomes": dict(metrics.outcomes)}}, metrics)
    fams = families(text)
    assert fams["resilient_fetch_requests"].type == "counter"  # the parser drops _total
    assert value(fams, "resilient_fetch_requests", "resilient_fetch_requests_total",
                 outcome="CIRCUIT_OPEN") == 2
    summary = fams["resilient_fetch_request_duration_seconds"]
    assert summary.type == "summary"
    assert {s.labels.get("quantile") for s in summary.samples} == {"0.5", "0.95", "0.99", None}
    assert value(fams, summary.name, summary.name + "_count", route="/api/items/:id") == 5
    assert value(fams, summary.name, summary.name + "_sum", method="GET") == pytest.approx(1.1)
    # The escaped label value comes back as it was.
    odd = value(fams, "resilient_fetch_breaker_state", "resilient_fetch_breaker_state",
                key='odd "key"\\\n', state="half_open")
    assert odd == 1
    assert fams["resilient_fetch_queue_waiting"].type == "gauge"
    assert value(fams, "resilient_fetch_outbox_entries", "resilient_fetch_outbox_entries",
                 state="dead") == 1
    assert len(fams) == text.count("# TYPE ")  # every family parsed, none merged


def test_the_parser_refuses_broken_text_control() -> None:
    with pytest.raises(ValueError):
        list(text_string_to_metric_families('resilient_fetch_x{key="unterminated} 1\n'))


async def test_a_live_client_with_an_outbox_parses() -> None:
    client = Client(
        "http://api.test/",
        transport=MockTransport(lambda r: Response(200)),
        clock=FakeClock(),
        retry={"max_retries": 0},
    )
    await client.get("items/1")
    await client.get("items/2?x=1")
    await client.outbox.enqueue("POST", "items", json={"a": 1})
    fams = families(client.metrics_text())
    name = "resilient_fetch_request_duration_seconds"
    assert value(fams, name, name + "_count", method="GET", route="/items/:id") == 2
    assert value(fams, "resilient_fetch_outbox_entries", "resilient_fetch_outbox_entries",
                 state="pending") == 1
    await client.close(timeout=0)
    fams = families(client.metrics_text())  # the final figures, after close
    assert value(fams, "resilient_fetch_client_state", "resilient_fetch_client_state",
                 state="closed") == 1
