"""The installed connector's Python equivalents keep exactly what the manifest's Jinja rules keep."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from airbyte_cdk.sources.declarative.decoders.json_decoder import JsonDecoder
from airbyte_cdk.sources.declarative.extractors.dpath_extractor import DpathExtractor
from airbyte_cdk.sources.declarative.extractors.record_filter import RecordFilter
from airbyte_cdk.sources.declarative.requesters.error_handlers.http_response_filter import HttpResponseFilter
from airbyte_cdk.sources.declarative.requesters.paginators.strategies.cursor_pagination_strategy import CursorPaginationStrategy
from airbyte_cdk.sources.types import StreamSlice

from source_chartmogul import SourceChartmogul
from source_chartmogul.components import (
    ActivityWindowFilter,
    ChartMogulPagination,
    OncePerResponseJsonDecoder,
    TopLevelKeyExtractor,
    json_body_or_empty,
)
from source_chartmogul.source import written_manifest
from unit_tests.recorded_bodies import recorded_text

WINDOW = StreamSlice(partition={}, cursor_slice={"start_time": "2024-01-15T06:30:00Z", "end_time": "2024-02-15T06:29:59Z"})
DATES = [
    "2024-01-15T06:29:59+00:00", "2024-01-15T06:30:00+00:00", "2024-01-20T00:00:00+00:00",
    "2024-02-15T06:29:59+00:00", "2024-02-15T06:30:00+00:00", "2023-12-31T23:59:59+00:00", "2025-01-15T06:30:00+00:00",
]


def installed_manifest() -> Any:
    """The manifest as the installed connector resolves it, with components.py swapped in."""
    return SourceChartmogul(config={"api_key": "k" * 20, "start_date": "2019-01-01T00:00:00Z"}).resolved_manifest


def activities_record_filter(manifest: dict) -> dict:
    return manifest["definitions"]["streams"]["activities"]["retriever"]["record_selector"]["record_filter"]


def manifest_condition() -> str:
    return activities_record_filter(written_manifest())["condition"]


def test_the_python_window_filter_keeps_what_the_manifests_jinja_filter_keeps() -> None:
    records = [{"uuid": str(n), "date": date} for n, date in enumerate(DATES)]
    jinja = RecordFilter(config={}, parameters={}, condition=manifest_condition())
    python = ActivityWindowFilter(config={}, parameters={}, condition=manifest_condition())

    kept = list(python.filter_records(records, stream_state={}, stream_slice=WINDOW))
    assert kept == list(jinja.filter_records(records, stream_state={}, stream_slice=WINDOW))
    assert [r["date"] for r in kept] == ["2024-01-15T06:30:00+00:00", "2024-01-20T00:00:00+00:00", "2024-02-15T06:29:59+00:00"]


def test_the_installed_connector_runs_the_python_filter_and_the_manifest_file_keeps_jinja() -> None:
    resolved = installed_manifest()
    record_filter = activities_record_filter(resolved)
    assert (record_filter["type"], record_filter["class_name"]) == ("CustomRecordFilter", "source_chartmogul.components.ActivityWindowFilter")
    assert activities_record_filter(written_manifest())["type"] == "RecordFilter"


def response_with(body: bytes) -> requests.Response:
    response = requests.Response()
    response.status_code, response._content = 200, body
    return response


@pytest.mark.parametrize("body", [
    recorded_text("activities__1").encode(),   # a list page: records under `entries`
    recorded_text("metrics_all__1").encode(),  # a metric series: `entries` too
    b'{"entries": [], "has_more": false}',
    b'{"has_more": false}',                    # no records key
    b'{"entries": {"uuid": "a"}}',             # one object, not a list
    b'[{"entries": [1]}]',                     # a body that is not an object
])
def test_the_python_extractor_returns_what_the_manifests_dpath_extractor_returns(body: bytes) -> None:
    def extract(extractor_class: type) -> list[Any]:
        extractor = extractor_class(field_path=["{{ parameters.records_key }}"], config={}, parameters={"records_key": "entries"})
        return list(extractor.extract_records(response_with(body)))

    assert extract(TopLevelKeyExtractor) == extract(DpathExtractor)


def test_the_installed_connector_extracts_records_in_python_and_the_manifest_file_keeps_dpath() -> None:
    resolved = installed_manifest()
    extractors = {name: stream["retriever"]["record_selector"]["extractor"] for name, stream in resolved["definitions"]["streams"].items()}
    assert extractors.pop("account") == {"type": "DpathExtractor", "field_path": []}  # the whole body: dpath walks nothing
    assert {(e["type"], e.get("class_name")) for e in extractors.values()} == {
        ("CustomRecordExtractor", "source_chartmogul.components.TopLevelKeyExtractor")}
    assert len(extractors) == 16
    written = written_manifest()["definitions"]
    assert written["record_selector"]["extractor"]["type"] == written["metric_stream"]["retriever"]["record_selector"]["extractor"]["type"] == "DpathExtractor"


@pytest.mark.parametrize("body", [
    recorded_text("activities__1").encode(),
    b"<html><body>Down for maintenance</body></html>",
    b'{"entries": [{"uuid": "a"',               # cut short
    b"",
    b'{"amount_in_cents": NaN}',                # not JSON to orjson, JSON to the standard library
])
def test_the_error_handlers_body_check_sees_what_the_cdks_sees(body: bytes) -> None:
    def cdk_body(response: requests.Response) -> Any:
        try:
            return response.json()
        except requests.exceptions.JSONDecodeError:
            return {}

    cdk, ours = cdk_body(response_with(body)), json_body_or_empty(response_with(body))
    assert json.dumps(ours) == json.dumps(cdk)  # NaN != NaN, so compared as text


def test_the_installed_connector_checks_bodies_with_the_python_equivalent() -> None:
    installed_manifest()
    assert HttpResponseFilter._safe_response_json is json_body_or_empty


@pytest.mark.parametrize("body", [
    recorded_text("activities__1").encode(),
    b'{"entries": [], "has_more": false, "cursor": null}',
    b'[{"uuid": "a"}, {"uuid": "b"}]',          # a list: its items
    b"[]",                                      # an empty list, null and no JSON at all: {}
    b"null",
    b"<html><body>Down for maintenance</body></html>",
    b"",
    b"0",                                       # falsy JSON: itself
    b"false",
    b'{"amount_in_cents": NaN}',
])
def test_the_once_per_response_decoder_yields_what_the_cdks_json_decoder_yields(body: bytes) -> None:
    cdk = list(JsonDecoder(parameters={}).decode(response_with(body)))
    ours = list(OncePerResponseJsonDecoder().decode(response_with(body)))
    assert json.dumps(ours) == json.dumps(cdk)


def test_the_installed_connector_parses_each_page_once_for_the_body_check_the_extractor_and_the_paginator() -> None:
    resolved = installed_manifest()
    decoders = {name: stream["retriever"].get("decoder") for name, stream in resolved["definitions"]["streams"].items()}
    assert len(decoders) == 17
    assert set(map(json.dumps, decoders.values())) == {json.dumps(
        {"type": "CustomDecoder", "class_name": "source_chartmogul.components.OncePerResponseJsonDecoder"})}
    assert "decoder" not in written_manifest()["definitions"]["list_stream"]["retriever"]

    response = response_with(recorded_text("activities__1").encode())
    body = json_body_or_empty(response)
    response._content = b"{}"  # a second parse would now see another body
    assert list(OncePerResponseJsonDecoder().decode(response)) == [body] and body["entries"]


def paginate(strategy: Any, pages: list[dict[str, Any]], resource: str = "customers") -> list[Any]:
    """What a strategy answers to each page of one partition in turn: the token sent next, None (the end), or the
    sentence it fails with (the manifest's unwrapped from the duration() macro that raises it)."""
    partition = StreamSlice(partition={"customer_uuid": "cus_1"}, cursor_slice={}, extra_fields={})
    answers, sent = [], None
    for body in pages:
        try:
            sent = strategy.next_page_token(response_with(json.dumps(body).encode()), len(body.get("entries", [])), None,
                                            sent, stream_slice=partition)
        except Exception as error:  # noqa: BLE001 - the two strategies raise different types with the same sentence
            text = getattr(error, "message", None) or str(error)
            answers.append(text.removeprefix("Unable to parse duration string '").removesuffix("'"))
            break
        answers.append(sent)
        if sent is None:
            break
    return answers


def both_strategies(resource: str) -> tuple[Any, Any]:
    parameters = {"resource": resource, "records_key": "entries"}
    written = written_manifest()["definitions"]["cursor_paginator"]["pagination_strategy"]
    manifest = CursorPaginationStrategy(cursor_value=written["cursor_value"], stop_condition=written["stop_condition"],
                                        page_size=written["page_size"], config={}, parameters=parameters)
    return manifest, ChartMogulPagination(config={}, parameters=parameters)


def recorded_page(name: str) -> dict[str, Any]:
    body = json.loads(recorded_text(name))
    records_key = next(key for key, value in body.items() if isinstance(value, list))
    return {("entries" if key == records_key else key): value for key, value in body.items()}


ENTRY = [{"uuid": "a"}]
MORE, DONE = {"entries": ENTRY, "has_more": True, "cursor": "c1"}, {"entries": ENTRY, "has_more": False, "cursor": "c2"}
PAGE_CHAINS = {
    # every recorded list page, alone: follow its cursor, end, or fail naming what it saw
    **{name: [recorded_page(name)] for name in (
        "customers_list__1", "customers_list__3", "customers_list__4", "customers_list__6", "customers_list__8",
        "customer_subscriptions__6", "customer_subscriptions__9", "import_customer_subscriptions__5",
        "import_customer_subscriptions__6", "import_customer_subscriptions__7", "invoices__1", "invoices__3",
        "plan_group_plans__4", "plan_groups__4", "plan_groups__5", "plans__4", "customer_invoices__4",
        "subscription_events__1", "subscription_events__2", "subscription_events__3", "subscription_events__5",
        "subscription_events__7", "contacts__3", "activities__3")},
    "cursor then end": [MORE, DONE],
    "meta cursor then end": [{"entries": ENTRY, "meta": {"has_more": True, "cursor": "m1"}},
                             {"entries": ENTRY, "meta": {"has_more": False, "cursor": "m2"}}],
    "a cursor without has_more is followed": [{"entries": ENTRY, "cursor": "c1"}, DONE],
    "page counts that say more, with a cursor": [{"entries": ENTRY, "current_page": 1, "total_pages": 3, "cursor": "c1"}, DONE],
    "no hint at all": [{"entries": ENTRY}],
    "has_more without a cursor": [{"entries": ENTRY, "has_more": True, "cursor": None}],
    "a repeated cursor on a full page": [MORE, MORE],
    "empty pages repeating the cursor, five followed": [MORE] + [{"entries": [], "has_more": True, "cursor": "c1"}] * 5 + [DONE],
    "empty pages repeating the cursor, a sixth fails": [MORE] + [{"entries": [], "has_more": True, "cursor": "c1"}] * 6,
}


@pytest.mark.parametrize("pages", PAGE_CHAINS.values(), ids=PAGE_CHAINS.keys())
@pytest.mark.parametrize("resource", ["customers", "customers/{customer_uuid}/subscriptions"])
def test_the_python_pagination_follows_ends_and_fails_exactly_as_the_manifests_rules(pages: list[dict], resource: str) -> None:
    manifest, python = both_strategies(resource)
    assert paginate(python, pages) == paginate(manifest, pages)


def test_each_shape_of_more_is_followed_ended_or_failed_with_its_sentence() -> None:
    _, python = both_strategies("customers/{customer_uuid}/subscriptions")
    retry = "retry the sync later"
    assert {name: paginate(python, pages) for name, pages in PAGE_CHAINS.items() if name in (
        "subscription_events__5", "subscription_events__7", "subscription_events__2", "customers_list__8",
        "import_customer_subscriptions__5", "import_customer_subscriptions__7", "no hint at all",
        "a repeated cursor on a full page", "empty pages repeating the cursor, five followed",
        "empty pages repeating the cursor, a sixth fails", "a cursor without has_more is followed")} == {
        "subscription_events__5": [recorded_page("subscription_events__5")["meta"]["cursor"]],  # has_more, cursor in meta
        "subscription_events__7": [f"ChartMogul answered page 1 of 427 of customers/cus_1/subscriptions without a cursor:"
                                   f" the rest of the list can only be asked by page number, which the API deprecates; {retry}"],
        "subscription_events__2": [None],            # page 0 of 0: an empty list
        "customers_list__8": [f"ChartMogul answered has_more true without a cursor for customers/cus_1/subscriptions: the"
                              f" rest of the list cannot be read; {retry}"],
        "import_customer_subscriptions__5": [None],  # has_more false with a cursor and total_pages 0: the last page
        "import_customer_subscriptions__7": [None],  # page 2 of 2, no cursor
        "no hint at all": [f"ChartMogul answered customers/cus_1/subscriptions without has_more, a cursor or page counts:"
                           f" whether the list goes on is unknown; {retry}"],
        "a repeated cursor on a full page": ["c1", f"ChartMogul returned the cursor it was sent for"
                                             f" customers/cus_1/subscriptions: following it would read the same page again; {retry}"],
        "empty pages repeating the cursor, five followed": ["c1"] * 6 + [None],
        "empty pages repeating the cursor, a sixth fails": ["c1"] * 6 + [f"ChartMogul kept answering empty pages with the"
                                                                         f" same cursor for customers/cus_1/subscriptions (5 times): {retry}"],
        "a cursor without has_more is followed": ["c1", None],
    }


def test_the_installed_connector_paginates_in_python_and_the_manifest_file_keeps_its_rules() -> None:
    strategies = {name: stream["retriever"].get("paginator", {}).get("pagination_strategy")
                  for name, stream in installed_manifest()["definitions"]["streams"].items()}
    assert {name for name, strategy in strategies.items() if strategy is None} == {
        "account", "data_sources", "customer_count", "key_metrics", "mrr_metrics"}
    assert {(s["type"], s["class_name"], s["page_size"]) for s in strategies.values() if s} == {
        ("CustomPaginationStrategy", "source_chartmogul.components.ChartMogulPagination", 200)}
    assert written_manifest()["definitions"]["cursor_paginator"]["pagination_strategy"]["type"] == "CursorPagination"
