"""Incremental activities and ChartMogul's limits, end to end against the emulator through the real CLI."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from chartmogul_emulator import Emulator, no_collector_pauses
from airbyte_cdk.models import SyncMode
from airbyte_cdk.sources.declarative.concurrent_declarative_source import ConcurrentDeclarativeSource
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import read

from integration_tests.connector_cli import STREAM_NAMES, as_multiset, run_connector
from chartmogul_emulator.stream_truth import ground_truth
from source_chartmogul.source import SourceChartmogul, written_manifest

KEY = "sk_incremental_8e2d5a17c4"
CONFIG = {"api_key": KEY, "start_date": "2019-01-01T00:00:00Z", "end_date": "2025-12-31T23:59:59Z"}


def on_a_month_edge(date: str) -> bool:
    return date[8:19] == "01T00:00:00"


def activities_between(emulator: Emulator, start: str, end: str) -> list[dict[str, Any]]:
    """Every activity with start <= date <= end: the definition of a correct sync, whatever the API's boundaries."""
    return [a for a in emulator.truth("/v1/activities") if start[:19] <= a["date"][:19] <= end[:19]]


@pytest.mark.parametrize("boundaries", ["inclusive", "exclusive", "half-open"])
def test_an_incremental_sync_is_exact_whatever_the_api_does_at_window_edges(
    boundaries: str, chartmogul_emulator_factory: Any, tmp_path: Path
) -> None:
    emulator = chartmogul_emulator_factory(seed=5, customers=300, activities=6_000, api_key=KEY, date_boundaries=boundaries)
    expected = activities_between(emulator, CONFIG["start_date"], CONFIG["end_date"])
    tied_edges = [date for date, n in Counter(a["date"] for a in expected).items() if n > 1 and on_a_month_edge(date)]
    assert len(tied_edges) >= 20, "the account must put shared timestamps exactly on the windows' edges"

    run = run_connector("read", tmp_path, {**CONFIG, "base_url": emulator.url}, ["activities"], sync_mode="incremental")

    assert run.errors() == []
    emitted = run.records("activities")
    assert len(emitted) == len({a["uuid"] for a in emitted}), "an activity was emitted twice"
    assert sorted(emitted, key=lambda a: a["uuid"]) == sorted(expected, key=lambda a: a["uuid"])
    assert run.final_state("activities") == {"date": max(a["date"] for a in expected)[:19] + "Z"}


ACTIVITIES_INCREMENTAL = CatalogBuilder().with_stream("activities", SyncMode.incremental).build()


def manifest_alone(config: dict[str, Any]) -> ConcurrentDeclarativeSource:
    """The manifest file as the Connector Builder and source-declarative-manifest run it: without components.py."""
    return ConcurrentDeclarativeSource(source_config=written_manifest(), config=config, catalog=ACTIVITIES_INCREMENTAL)


def test_the_manifest_alone_reads_activities_exactly_too(chartmogul_emulator_factory: Any) -> None:
    """What the Connector Builder and source-declarative-manifest run: the Jinja window filter, not the Python one."""
    emulator = chartmogul_emulator_factory(seed=5, customers=300, activities=6_000, api_key=KEY, date_boundaries="exclusive")
    config = {**CONFIG, "base_url": emulator.url, "max_requests_per_second": 1000}

    output = read(manifest_alone(config), config, ACTIVITIES_INCREMENTAL)

    assert output.errors == []
    assert as_multiset([r.record.data for r in output.records]) == as_multiset(
        activities_between(emulator, CONFIG["start_date"], CONFIG["end_date"])
    )


def test_the_installed_connector_emits_the_records_and_states_of_the_manifest_alone(chartmogul_emulator_factory: Any) -> None:
    """components.py replaces the cursor's per-record bookkeeping, the extractor, the filter and the body check."""
    emulator = chartmogul_emulator_factory(seed=5, customers=300, activities=6_000, api_key=KEY)
    # one worker: windows close in one order, so the two runs' state sequences can be compared message for message
    config = {**CONFIG, "base_url": emulator.url, "max_requests_per_second": 1000, "concurrency_level": 1}

    expected = read(manifest_alone(config), config, ACTIVITIES_INCREMENTAL)
    installed = read(SourceChartmogul(config=config, catalog=ACTIVITIES_INCREMENTAL), config, ACTIVITIES_INCREMENTAL)

    def states(output: Any) -> list[dict[str, Any]]:
        return [message.state.stream.stream_state.__dict__ for message in output.state_messages]

    assert installed.errors == expected.errors == []
    assert [r.record.data for r in installed.records] == [r.record.data for r in expected.records]
    assert len(states(expected)) > 100 and states(installed) == states(expected)


def test_a_second_incremental_sync_with_no_new_data_costs_a_handful_of_requests(chartmogul_emulator_factory: Any, tmp_path: Path) -> None:
    emulator = chartmogul_emulator_factory(seed=5, customers=300, activities=6_000, api_key=KEY)
    config = {**CONFIG, "base_url": emulator.url}
    first = run_connector("read", tmp_path, config, ["activities"], sync_mode="incremental")
    state = first.final_state("activities")
    emulator.reset_stats()

    second = run_connector("read", tmp_path, config, ["activities"], sync_mode="incremental", state=state)

    assert second.errors() == []
    requests = sum(emulator.stats()["requests"]["/v1/activities"].values())
    assert requests <= 3, f"{requests} requests to re-read the 30-day lookback"
    # What it re-reads is the lookback: the last 30 days before the state, which destinations deduplicate by uuid.
    assert {a["uuid"] for a in second.records("activities")} == {
        a["uuid"] for a in activities_between(emulator, "2025-12-01T23:59:59Z", CONFIG["end_date"])
    }
    assert second.final_state("activities") == state


def test_a_full_sync_of_every_stream_with_default_settings_loses_nothing_to_chartmogul_limits(chartmogul_emulator_factory: Any, tmp_path: Path) -> None:
    """The emulator enforces the real limits (40 requests in any second on its own clock, 20 in flight) at ChartMogul's
    latency (200 +- 50 ms), and each request spends a uniform 0-120 ms on its way before the limits count it, as over
    a real network. Whether some second of the emulator's clock receives a 41st request depends on how busy the
    machine is: the 429s and the pace are make bench figures (--mode full20k-network). What holds whatever the timing
    is asserted: every request refused with a 429 or a 503 is asked again until served, and every stream is exact.
    Two 429s and a 503 are scripted, so that the retries are proven even in a run the pace keeps clear of the limits.
    800 customers: about 1,100 requests, the rate limit binding for 30 s."""
    emulator = chartmogul_emulator_factory(seed=9, customers=800, activities=8_000, api_key=KEY, rate_limit=40,
                                           max_connections=20, latency_ms=200, jitter_ms=50, arrival_delay="uniform:120")
    emulator.script_fault("/v1/plans", "429", nth=1, times=2)
    emulator.script_fault("/v1/contacts", "503", nth=1)
    config = {**CONFIG, "base_url": emulator.url}

    with no_collector_pauses():  # the emulator shares this test process: its clock must not stop for pytest's heap
        run = run_connector("read", tmp_path, config)

    stats = emulator.stats()
    assert run.errors() == []
    assert stats["refused_not_served_again"] == []
    assert stats["statuses"]["429"] >= 2 and stats["statuses"]["503"] >= 1
    assert stats["peak_in_flight"] <= 20
    for stream in STREAM_NAMES:
        assert Counter(map(repr, run.records(stream))) == Counter(map(repr, ground_truth(emulator, stream, CONFIG))), stream
