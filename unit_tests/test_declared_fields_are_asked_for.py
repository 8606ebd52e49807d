"""Every field a schema declares is asked for by some request, so none arrives null only because it was not asked for.

A field that ChartMogul sends only when a request carries a parameter says so in its schema, with the keyword
`x-brought-by-parameter: "<name>=<value>"` (for a comma-separated parameter such as `include`, the value is one of its
items). Here a full read of every stream shows the requests the connector really sends; each annotated field's
parameter must be among them, and each field without the keyword must occur in a real recorded body (what ChartMogul
sends without being asked), unless it is one of the few fields ChartMogul documents that no recording shows yet.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import requests_mock
from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import read

from source_chartmogul import SourceChartmogul
from unit_tests.recorded_bodies import sources_table
from unit_tests.test_schemas_match_real_fixtures import SOURCES_ROW, STREAM_FIXTURES, RecordedResponse, load_schema, stream_records

ANNOTATION = "x-brought-by-parameter"
API = "https://api.chartmogul.com/v1/"
CONFIG = {"api_key": "sk_unit_fields_5d0c", "start_date": "2024-01-01T00:00:00Z", "end_date": "2024-02-01T00:00:00Z"}

# Documented by ChartMogul (newer reference pages, its Python client) with no parameter known to bring them, and in no
# recorded body yet: declared so that they land in the warehouse the day ChartMogul sends them.
DOCUMENTED_NOT_RECORDED = {
    ("account", ".id"): "newer docs show acc_...; the 2021 recording has none",
    ("contacts", ".external_id"): "mapped by ChartMogul's Python client",
    ("invoices", ".customer_external_id"): "newer docs and the Python client",
    ("invoices", ".data_source_uuid"): "newer docs and the Python client",
    ("invoices", ".collection_method"): "newer docs",
    ("invoices", ".status"): "newer docs",
    ("invoices", ".user_created"): "newer docs (January 2026)",
    ("subscription_events", ".event_order"): "docs example",
}

# The resource each stream reads, and a body that ends its read (a parent gives one record, so its child asks too).
ONE_PLAN_GROUP = {"plan_groups": [{"uuid": "plg_1", "name": "Group", "plans_count": 0}], "has_more": False, "cursor": None}
ONE_CUSTOMER = {"entries": [{"id": 1, "uuid": "cus_1"}], "has_more": False, "cursor": None}
BODIES = {
    "customers": ONE_CUSTOMER, "plan_groups": ONE_PLAN_GROUP,
    "account": {"name": "Example Co"}, "data_sources": {"data_sources": []},
    "metrics/customer-count": {"entries": [], "summary": {}}, "metrics/all": {"entries": [], "summary": {}},
    "metrics/mrr": {"entries": [], "summary": {}},
}


def declared_fields(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, schema) of every declared field, nested ones included (`.line_items[].disabled`)."""
    for name, child in node.get("properties", {}).items():
        yield f"{path}.{name}", child
        yield from declared_fields(child, f"{path}.{name}")
    if "items" in node:
        yield from declared_fields(node["items"], f"{path}[]")


def field_paths(value: Any, path: str = "") -> set[str]:
    paths: set[str] = set()
    if isinstance(value, dict):
        for key, child in value.items():
            paths |= {f"{path}.{key}"} | field_paths(child, f"{path}.{key}")
    elif isinstance(value, list):
        for child in value:
            paths |= field_paths(child, f"{path}[]")
    return paths


def annotated(stream: str) -> dict[str, tuple[str, str]]:
    """Field path -> (parameter, value) of every field the stream's schema annotates."""
    return {path: tuple(node[ANNOTATION].split("=", 1)) for path, node in declared_fields(load_schema(stream)) if ANNOTATION in node}


def resource_of(url: str) -> str:
    path = urlsplit(url).path.removeprefix("/v1/")
    return re.sub(r"^(plan_groups|customers)/[^/]+/", r"\1/{id}/", path)


def body_for(resource: str) -> dict[str, Any]:
    records_key = {"plans": "plans", "plan_groups/{id}/plans": "plans", "invoices": "invoices",
                   "subscription_events": "subscription_events"}.get(resource, "entries")
    return BODIES.get(resource, {records_key: [], "has_more": False, "cursor": None})


@pytest.fixture(scope="module")
def sent_parameters() -> dict[str, list[dict[str, list[str]]]]:
    """Resource -> the query of each request a full read of every stream sends with the default settings."""
    catalog = CatalogBuilder()
    for stream in STREAM_FIXTURES:
        catalog = catalog.with_stream(stream, SyncMode.full_refresh)
    built = catalog.build()
    with requests_mock.Mocker() as mock:
        mock.get(re.compile(re.escape(API)), json=lambda request, context: body_for(resource_of(request.url)))
        output = read(SourceChartmogul(catalog=built, config=CONFIG), CONFIG, built)
        history = list(mock.request_history)
    assert [error.trace.error.message for error in output.errors] == []
    sent: dict[str, list[dict[str, list[str]]]] = defaultdict(list)
    for request in history:
        sent[resource_of(request.url)].append(parse_qs(urlsplit(request.url).query))
    return sent


@pytest.fixture(scope="module")
def recorded_responses() -> dict[str, RecordedResponse]:
    return {row["file"]: RecordedResponse(int(row["status"]), row["request"]) for row in SOURCES_ROW.finditer(sources_table())}


STREAM_RESOURCES = {"account": "account", "data_sources": "data_sources", "invoices": "invoices",
                    "subscription_events": "subscription_events"}


def test_the_annotated_streams_are_the_ones_whose_fields_need_a_parameter() -> None:
    assert sorted(stream for stream in STREAM_FIXTURES if annotated(stream)) == sorted(STREAM_RESOURCES)


@pytest.mark.parametrize("stream", sorted(STREAM_RESOURCES))
def test_every_request_of_the_stream_carries_the_parameter_of_each_annotated_field(stream: str, sent_parameters) -> None:
    queries = sent_parameters[STREAM_RESOURCES[stream]]
    assert queries, f"{stream}: the full read sent no request to {STREAM_RESOURCES[stream]}"
    missing = sorted(
        f"{path} needs {name}={value}"
        for path, (name, value) in annotated(stream).items()
        for query in queries
        if value not in ",".join(query.get(name, [])).split(",")
    )
    assert not missing, f"{stream}: " + "; ".join(missing)


@pytest.mark.parametrize("stream", sorted(STREAM_FIXTURES))
def test_every_declared_field_is_recorded_without_asking_or_annotated_with_its_parameter(stream: str, recorded_responses) -> None:
    recorded = set().union(*(field_paths(record) for _, _, record in stream_records(stream, recorded_responses)))
    unexplained = sorted(
        path for path, node in declared_fields(load_schema(stream))
        if path not in recorded and ANNOTATION not in node and (stream, path) not in DOCUMENTED_NOT_RECORDED
    )
    assert not unexplained, f"{stream}: declared, in no recorded body and not annotated with {ANNOTATION}: {unexplained}"


def test_the_documented_but_unrecorded_fields_are_exactly_those_listed(recorded_responses) -> None:
    for (stream, path), reason in DOCUMENTED_NOT_RECORDED.items():
        recorded = set().union(*(field_paths(record) for _, _, record in stream_records(stream, recorded_responses)))
        node = dict(declared_fields(load_schema(stream))).get(path)
        assert node is not None and ANNOTATION not in node and path not in recorded, f"{stream} {path} ({reason})"


@pytest.mark.parametrize("stream", sorted(STREAM_RESOURCES))
def test_a_recording_requested_without_a_fields_parameter_does_not_have_the_field(stream: str, recorded_responses) -> None:
    """The annotation is right where a recording can tell: without the parameter, ChartMogul left the field out."""
    checked = 0
    for file, _, record in stream_records(stream, recorded_responses):
        query = parse_qs(urlsplit(recorded_responses[file].request.removeprefix("GET ")).query)
        for path, (name, value) in annotated(stream).items():
            if value not in ",".join(query.get(name, [])).split(","):
                checked += 1
                assert path not in field_paths(record), f"{file} has {path} although requested without {name}={value}"
    assert checked, f"{stream}: no recording was requested without the parameters: nothing to compare"


def test_the_schema_keyword_names_a_parameter_and_a_value() -> None:
    for stream in STREAM_RESOURCES:
        for path, node in declared_fields(load_schema(stream)):
            if ANNOTATION in node:
                assert re.fullmatch(r"[a-z_]+=[a-z_]+", node[ANNOTATION]), f"{stream} {path}: {node[ANNOTATION]!r}"


def test_a_full_read_reaches_every_resource_and_sends_exactly_these_parameters_where_schemas_need_them(sent_parameters) -> None:
    first = {resource: queries[0] for resource, queries in sent_parameters.items()}
    assert sorted(first) == [
        "account", "activities", "contacts", "customer_notes", "customers", "customers/{id}/subscriptions", "data_sources",
        "invoices", "metrics/all", "metrics/customer-count", "metrics/mrr", "opportunities", "plan_groups",
        "plan_groups/{id}/plans", "plans", "subscription_events", "tasks"]
    assert first["account"] == {"include": ["churn_recognition,churn_when_zero_mrr,auto_churn_subscription,refund_handling,"
                                            "proximate_movement_reclassification"]}
    assert first["data_sources"] == {"with_processing_status": ["true"], "with_auto_churn_subscription_setting": ["true"],
                                     "with_invoice_handling_setting": ["true"]}
    assert first["invoices"] == {"per_page": ["200"], "with_disabled": ["true"], "validation_type": ["all"],
                                 "include_edit_histories": ["true"]}
    assert first["subscription_events"] == {"per_page": ["200"], "with_disabled": ["true"]}
