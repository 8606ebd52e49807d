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
from airbyte_cdk.sources.types import StreamSlice

from source_chartmogul import SourceChartmogul
from source_chartmogul.components import (
    ActivityWindowFilter,
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
