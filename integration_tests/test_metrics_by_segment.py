"""Metrics by segment through the real CLI against the emulator: each segment stream's records are exactly the
emulator's series of each segment, one request per segment and series; the segments of one plan each add up to the
whole account; a segment ChartMogul refuses fails its stream, naming it, and keeps the other segments' records."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from chartmogul_emulator import Emulator
from chartmogul_emulator.stream_truth import SEGMENT_STREAMS, ground_truth, segments
from integration_tests.connector_cli import as_multiset, run_connector
# The settings' emulator (a module fixture: one of its own here), config and successful read.
from integration_tests.test_settings_end_to_end import CONFIG, KEY, assert_exact, emulator, read  # noqa: F401

CONFIGURED = [
    {"name": "Europe in EUR", "filters": "currency~ANY~'EUR'", "geo": "de, fr,es"},
    {"name": "US and GB", "geo": "US,GB"},
    {"name": "Gold or Silver in USD", "filters": "currency~ANY~'USD' AND plan~ANY~'Gold monthly','Silver monthly'"},
    {"name": "Gold monthly", "plans": " Gold monthly , Silver monthly"},  # a plan's name: this definition wins
]
SEGMENT_STREAM_NAMES = list(SEGMENT_STREAMS)


def requests_to(emulator: Emulator, path: str) -> int:
    return sum(emulator.stats()["requests"].get(path, {}).values())


def test_each_segment_stream_reads_every_configured_and_plan_segment_exactly_one_request_each(
        emulator: Emulator, tmp_path: Path) -> None:
    emulator.reset_stats()
    run, config = read(emulator, tmp_path, SEGMENT_STREAM_NAMES, metrics_segments=CONFIGURED, metrics_by_plan=True)
    expected_segments = segments(emulator, config)
    plan_names = [plan["name"] for plan in emulator.truth("/v1/plans")]
    assert "Gold monthly" in plan_names and len(expected_segments) == len(CONFIGURED) + len(plan_names) - 1
    assert expected_segments["Gold monthly"] == {"plans": "Gold monthly,Silver monthly"}  # the configured one
    for stream in SEGMENT_STREAM_NAMES:
        assert {record["segment"] for record in assert_exact(run, emulator, stream, config)} == set(expected_segments)
    assert {r["segment"]: (r["filters"], r["geo"], r["plans"]) for r in run.records("segment_mrr_metrics")}["Europe in EUR"] == (
        "currency~ANY~'EUR'", "DE,FR,ES", "")
    for series in ("mrr", "all", "customer-count"):
        assert requests_to(emulator, f"/v1/metrics/{series}") == len(expected_segments)
    assert requests_to(emulator, "/v1/plans") == len(SEGMENT_STREAM_NAMES)  # one page, read by each stream
    assert KEY not in run.stdout + run.stderr


def test_without_metrics_by_plan_no_plan_is_read_and_a_stream_not_selected_costs_nothing(
        emulator: Emulator, tmp_path: Path) -> None:
    emulator.reset_stats()
    run, config = read(emulator, tmp_path, ["segment_mrr_metrics"], metrics_segments=CONFIGURED)
    assert_exact(run, emulator, "segment_mrr_metrics", config)
    assert emulator.stats()["requests"] == {"/v1/metrics/mrr": {"200": len(CONFIGURED)}}


def sum_by_date(records: list[dict[str, Any]], keys: list[str]) -> dict[str, dict[str, int]]:
    sums: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(keys, 0))
    for record in records:
        for key in keys:
            sums[record["date"]][key] += record[key]
    return dict(sums)


def test_the_segments_of_every_plan_add_up_to_the_whole_account_on_every_date(emulator: Emulator, tmp_path: Path) -> None:
    streams = ["mrr_metrics", "customer_count", "segment_mrr_metrics", "segment_customer_count"]
    run, _ = read(emulator, tmp_path, streams, metrics_by_plan=True)
    plans = len(emulator.truth("/v1/plans"))
    for whole_stream, keys in (("mrr_metrics", ["mrr", "mrr-new-business", "mrr-expansion", "mrr-contraction", "mrr-churn",
                                                "mrr-reactivation"]),
                               ("customer_count", ["customers"])):
        whole = run.records(whole_stream)
        by_plan = run.records(f"segment_{whole_stream}")
        assert len(by_plan) == plans * len(whole) > 0
        assert sum_by_date(by_plan, keys) == {record["date"]: {key: record[key] for key in keys} for record in whole}
        assert max(record[keys[0]] for record in whole) > 0


def test_a_segment_chartmogul_refuses_fails_its_stream_naming_it_and_keeps_the_other_segments_records(
        emulator: Emulator, tmp_path: Path) -> None:
    refused = {"name": "By colour", "filters": "colour~ANY~'red'"}
    config = {**CONFIG, "base_url": emulator.url, "metrics_segments": [*CONFIGURED[:2], refused]}
    run = run_connector("read", tmp_path, config, ["segment_key_metrics", "key_metrics"])

    assert run.returncode == 1
    per_stream = [(e["stream_descriptor"]["name"], e["failure_type"], e["message"]) for e in run.errors() if e.get("stream_descriptor")]
    assert per_stream == [(
        "segment_key_metrics", "config_error",
        "ChartMogul refused segment 'By colour' of metrics_segments (metrics/all): Unknown filter field: 'colour'."
        " Correct it in metrics_segments, or remove it.")]
    kept = {**config, "metrics_segments": CONFIGURED[:2]}
    assert as_multiset(run.records("segment_key_metrics")) == as_multiset(ground_truth(emulator, "segment_key_metrics", kept))
    assert_exact(run, emulator, "key_metrics", config)
    assert KEY not in run.stdout + run.stderr
