"""Each setting that changes what is asked of ChartMogul, through the real CLI against the emulator: the records are
exactly the emulator's ground truth for the parameters the setting stands for, and differ from what the default asks."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from chartmogul_emulator import Emulator
from integration_tests.connector_cli import as_multiset, run_connector
from chartmogul_emulator.stream_truth import ground_truth

KEY = "sk_settings_e2e_7c41d2"
CONFIG = {
    "api_key": KEY, "start_date": "2019-01-01T00:00:00Z", "end_date": "2025-12-31T23:59:59Z", "interval": "quarter",
    "max_requests_per_second": 1000,
}
METRIC_STREAMS = ["customer_count", "key_metrics", "mrr_metrics"]


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(seed=3, customers=400, activities=4000, api_key=KEY) as started:
        yield started


def read(emulator: Emulator, tmp_path: Path, streams: list[str], **settings: Any):
    config = {**CONFIG, **settings, "base_url": emulator.url}
    run = run_connector("read", tmp_path, config, streams)
    assert run.returncode == 0 and run.errors() == [], run.stderr[-2000:]
    return run, config


def assert_exact(run, emulator: Emulator, stream: str, config: dict[str, Any]) -> list[dict[str, Any]]:
    expected = ground_truth(emulator, stream, config)
    assert as_multiset(run.records(stream)) == as_multiset(expected), stream
    assert expected, f"{stream}: nothing to compare"
    return expected


def test_by_default_disabled_and_invalid_records_are_read_and_marked(emulator: Emulator, tmp_path: Path) -> None:
    run, config = read(emulator, tmp_path, ["invoices", "subscription_events"])
    invoices = assert_exact(run, emulator, "invoices", config)
    events = assert_exact(run, emulator, "subscription_events", config)
    a = emulator.account
    assert len(invoices) == len(a.invoices) > len(emulator.truth("/v1/invoices"))
    assert sum(1 for i in invoices if i["disabled"]) == sum(1 for v in a.invoices if v.disabled_ms) > 0
    assert sum(1 for i in invoices if i["errors"]) == sum(1 for v in a.invoices if v.invalid) > 0
    assert sum(1 for i in invoices if i.get("edit_history_summary")) == sum(1 for v in a.invoices if v.edits) > 0
    assert any(item["disabled"] for i in invoices for item in i["line_items"])
    assert len(events) == a.activity_count and any(e["disabled"] for e in events) and not all(e["disabled"] for e in events)


def test_include_disabled_and_invalid_false_reads_only_what_chartmogul_lists_by_default(emulator: Emulator, tmp_path: Path) -> None:
    run, config = read(emulator, tmp_path, ["invoices", "subscription_events"], include_disabled_and_invalid=False)
    invoices = assert_exact(run, emulator, "invoices", config)
    events = assert_exact(run, emulator, "subscription_events", config)
    assert [i["uuid"] for i in invoices] == [i["uuid"] for i in emulator.truth("/v1/invoices")]
    assert all(not i["errors"] and "disabled" not in i for i in invoices)
    assert all("disabled" not in item for i in invoices for item in i["line_items"])
    assert [e["id"] for e in events] == [e["id"] for e in emulator.truth("/v1/subscription_events")]


def test_account_and_data_sources_carry_every_setting_chartmogul_has(emulator: Emulator, tmp_path: Path) -> None:
    run, config = read(emulator, tmp_path, ["account", "data_sources"])
    (account,) = assert_exact(run, emulator, "account", config)
    assert {"churn_recognition", "churn_when_zero_mrr", "auto_churn_subscription", "refund_handling",
            "proximate_movement_reclassification"} <= set(account)
    sources = assert_exact(run, emulator, "data_sources", config)
    assert all({"processing_status", "auto_churn_subscription_setting", "invoice_handling_setting"} <= set(s) for s in sources)


SEGMENTS = {
    "filter": {"metrics_filters": "currency~ANY~'USD','GBP'"},
    "geo": {"metrics_geo": "us, de"},
    "plans": {"metrics_plans": "Gold monthly, Silver monthly"},
    "all-three": {"metrics_filters": "currency~ANY~'EUR'", "metrics_geo": "US,GB,FR", "metrics_plans": "Gold monthly,Bronze monthly"},
}


@pytest.mark.parametrize("segment", sorted(SEGMENTS))
def test_a_metrics_segment_restricts_every_metric_stream_exactly(emulator: Emulator, tmp_path: Path, segment: str) -> None:
    run, config = read(emulator, tmp_path, METRIC_STREAMS, **SEGMENTS[segment])
    for stream in METRIC_STREAMS:
        records = assert_exact(run, emulator, stream, config)
        assert records != ground_truth(emulator, stream, CONFIG), f"{stream}: the segment changed nothing"
    assert max(r["customers"] for r in run.records("customer_count")) > 0  # a segment with customers in it


@pytest.mark.parametrize(
    "settings, message",
    [
        pytest.param(
            {"metrics_filters": "colour~ANY~'red'"},
            "ChartMogul refused the metrics/customer-count request: Unknown filter field: 'colour'. Correct metrics_filters, or"
            " leave the metrics_* settings empty to read the whole account.",
            id="unknown-field",
        ),
        pytest.param(
            {"metrics_plans": "Diamond yearly"},
            "ChartMogul refused the metrics/customer-count request: Plan \"Diamond yearly\" does not exist. Correct"
            " metrics_plans, or leave the metrics_* settings empty to read the whole account.",
            id="unknown-plan",
        ),
    ],
)
def test_a_segment_chartmogul_refuses_fails_the_stream_with_its_message(
    emulator: Emulator, tmp_path: Path, settings: dict[str, str], message: str
) -> None:
    run = run_connector("read", tmp_path, {**CONFIG, **settings, "base_url": emulator.url}, ["customer_count"])
    assert run.returncode != 0 and run.records("customer_count") == []
    per_stream = [(e["stream_descriptor"]["name"], e["failure_type"], e["message"]) for e in run.errors() if e.get("stream_descriptor")]
    assert per_stream == [("customer_count", "config_error", message)]
    assert KEY not in run.stdout + run.stderr
