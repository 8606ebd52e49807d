"""The segment streams send exactly one request per segment and series, with the segment's definition as ChartMogul's
parameters, and add the segment's name and definition to its records (HttpMocker); a refused segment is named."""

from __future__ import annotations

import json
from typing import Any

import pytest
from airbyte_cdk.models import SyncMode
from airbyte_cdk.sources.declarative.concurrent_declarative_source import ConcurrentDeclarativeSource
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import read
from airbyte_cdk.test.mock_http import HttpMocker, HttpResponse

from source_chartmogul import segments
from source_chartmogul.source import written_manifest
from unit_tests.test_stream_requests import CONFIG, DAYS, emitted, read_stream, read_with_exact_requests, request

SEGMENT_STREAMS = [("segment_customer_count", "metrics/customer-count"), ("segment_key_metrics", "metrics/all"),
                   ("segment_mrr_metrics", "metrics/mrr")]
EUROPE = {"name": "Europe", "filters": " currency~ANY~'EUR' ", "geo": "de, fr"}
GOLD = {"name": "Gold plans", "plans": "Gold monthly , pl_1"}


def entry(customers: int) -> HttpResponse:
    return HttpResponse(json.dumps({"entries": [{"date": "2024-01-31", "customers": customers}], "summary": {}}))


def plans_page(*names: str) -> HttpResponse:
    plans = [{"uuid": f"pl_{n}", "name": name, "data_source_uuid": f"ds_{n}"} for n, name in enumerate(names)]
    return HttpResponse(json.dumps({"plans": plans, "cursor": None, "has_more": False}))


def by_segment(records: list[Any]) -> dict[str, Any]:
    return {record["segment"]: record for record in records}


@pytest.mark.parametrize("stream, resource", SEGMENT_STREAMS)
def test_each_configured_segment_is_one_request_with_its_definition_added_to_its_records(stream: str, resource: str) -> None:
    output = read_with_exact_requests(stream, [
        (request(resource, **DAYS, filters="currency~ANY~'EUR'", geo="DE,FR"), entry(3)),
        (request(resource, **DAYS, plans="Gold monthly,pl_1"), entry(5)),
    ], {**CONFIG, "metrics_segments": [EUROPE, GOLD]})

    assert by_segment(emitted(output)) == {
        "Europe": {"date": "2024-01-31", "customers": 3, "segment": "Europe", "filters": "currency~ANY~'EUR'", "geo": "DE,FR",
                   "plans": ""},
        "Gold plans": {"date": "2024-01-31", "customers": 5, "segment": "Gold plans", "filters": "", "geo": "",
                       "plans": "Gold monthly,pl_1"},
    }


def test_no_segment_configured_reads_nothing_and_asks_nothing() -> None:
    output = read_with_exact_requests("segment_mrr_metrics", [])
    assert emitted(output) == []


def test_metrics_by_plan_reads_the_plans_then_one_segment_per_plan_name_a_configured_name_first() -> None:
    """Two plans share a name (two data sources): one segment, whose `plans`, the name, selects both. A configured
    segment of a plan's name is read with its own definition, once."""
    config = {**CONFIG, "metrics_segments": [{"name": "Silver", "geo": "US"}], "metrics_by_plan": True}
    output = read_with_exact_requests("segment_mrr_metrics", [
        (request("plans", per_page="200"), plans_page("Gold", "Silver", "Gold", "Bronze 2024")),
        (request("metrics/mrr", **DAYS, geo="US"), entry(1)),
        (request("metrics/mrr", **DAYS, plans="Gold"), entry(2)),
        (request("metrics/mrr", **DAYS, plans="Bronze 2024"), entry(4)),
    ], config)

    assert {name: (r["customers"], r["geo"], r["plans"]) for name, r in by_segment(emitted(output)).items()} == {
        "Silver": (1, "US", ""), "Gold": (2, "", "Gold"), "Bronze 2024": (4, "", "Bronze 2024")}
    assert len(emitted(output)) == 3


@pytest.mark.parametrize("config, refused, message", [
    pytest.param(
        {"metrics_segments": [EUROPE, {"name": "By colour", "filters": "colour~ANY~'red'"}]},
        {"filters": "colour~ANY~'red'"},
        "ChartMogul refused segment 'By colour' of metrics_segments (metrics/mrr): Unknown filter field: 'colour'. Correct it"
        " in metrics_segments, or remove it.",
        id="configured"),
    pytest.param(
        {"metrics_segments": [EUROPE], "metrics_by_plan": True},
        {"plans": "Gold, Silver"},
        "ChartMogul refused segment 'Gold, Silver' of metrics_by_plan (metrics/mrr): Unknown filter field: 'colour'. Turn"
        " metrics_by_plan off, or add a segment of that name to metrics_segments with the plan's uuid as plans: it takes"
        " precedence.",
        id="a-plan"),
])
def test_a_refused_segment_fails_the_stream_naming_it_and_its_setting_and_keeps_the_other_segments_records(
        config: dict[str, Any], refused: dict[str, str], message: str) -> None:
    body = HttpResponse(json.dumps({"code": 422, "message": "Unknown filter field: 'colour'", "param": "filters"}), 422)
    refused_request = request("metrics/mrr", **DAYS, **refused)
    with HttpMocker() as http:
        http.get(request("plans", per_page="200"), plans_page("Gold, Silver"))
        http.get(request("metrics/mrr", **DAYS, filters="currency~ANY~'EUR'", geo="DE,FR"), entry(3))
        http.get(refused_request, body)
        output = read_stream("segment_mrr_metrics", {**CONFIG, **config})

    errors = [error.trace.error for error in output.errors if error.trace.error.stream_descriptor]
    assert [(e.stream_descriptor.name, e.failure_type.value, e.message) for e in errors] == [
        ("segment_mrr_metrics", "config_error", message)]
    assert [record["segment"] for record in emitted(output)] == ["Europe"]
    http.assert_number_of_calls(refused_request, 1)  # failed at once, not retried


def test_the_manifest_alone_names_the_settings_a_refused_segment_comes_from() -> None:
    """The Connector Builder runs no Python of this package: its message names the two settings, not the segment."""
    config = {**CONFIG, "metrics_segments": [{"name": "By colour", "filters": "colour~ANY~'red'"}]}
    catalog = CatalogBuilder().with_stream("segment_mrr_metrics", SyncMode.full_refresh).build()
    body = HttpResponse(json.dumps({"code": 422, "message": "Unknown filter field: 'colour'", "param": "filters"}), 422)
    with HttpMocker() as http:
        http.get(request("metrics/mrr", **DAYS, filters="colour~ANY~'red'"), body)
        output = read(ConcurrentDeclarativeSource(source_config=written_manifest(), config=config, catalog=catalog), config, catalog)

    messages = [e.trace.error.message for e in output.errors if e.trace.error.stream_descriptor]
    assert messages == [f"ChartMogul refused {segments.ANY_SEGMENT} (metrics/mrr): Unknown filter field: 'colour'. {segments.ANY_FIX}"]
