"""Each stream sends exactly the requests ChartMogul expects and emits exactly the records it returns (HttpMocker)."""

from __future__ import annotations

import base64
import json
from typing import Any, Mapping

import pytest
from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput, read
from airbyte_cdk.test.mock_http import HttpMocker, HttpRequest, HttpResponse

from source_chartmogul import SourceChartmogul

API = "https://api.chartmogul.com/v1"
API_KEY = "sk_unit_7f3c2a9e41d84b6c"
CONFIG = {"api_key": API_KEY, "start_date": "2024-01-15T06:30:00Z", "end_date": "2024-06-30T23:59:59Z"}
# ChartMogul: HTTP Basic with the key as username and an empty password.
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{API_KEY}:".encode()).decode()}


def request(resource: str, **query: str) -> HttpRequest:
    return HttpRequest(f"{API}/{resource}", query_params=query, headers=AUTH)


def page(records_key: str, records: list[Mapping[str, Any]], cursor: str | None, has_more: bool) -> HttpResponse:
    return HttpResponse(json.dumps({records_key: records, "cursor": cursor, "has_more": has_more}))


def read_stream(stream: str, config: Mapping[str, Any] = CONFIG) -> EntrypointOutput:
    catalog = CatalogBuilder().with_stream(stream, SyncMode.full_refresh).build()
    return read(SourceChartmogul(catalog=catalog, config=config), config, catalog)


def customer(n: int) -> dict[str, Any]:
    return {"id": n, "uuid": f"cus_{n:04d}", "name": f"Customer {n}", "customer-since": "2024-01-01T12:00:00+00:00"}


def activity(n: int) -> dict[str, Any]:
    return {"uuid": f"act-{n:04d}", "date": f"2024-02-{n:02d}T00:00:00+00:00", "type": "new_biz", "activity-mrr": 100 * n}


def test_customers_follow_the_cursor_across_pages_with_per_page_200() -> None:
    with HttpMocker() as http:
        http.get(request("customers", per_page="200"), page("entries", [customer(1), customer(2)], "c1", True))
        http.get(request("customers", per_page="200", cursor="c1"), page("entries", [customer(3)], "c2", True))
        http.get(request("customers", per_page="200", cursor="c2"), page("entries", [customer(4)], "c2-last", False))
        output = read_stream("customers")

    assert [record.record.data for record in output.records] == [customer(1), customer(2), customer(3), customer(4)]
    assert not output.errors


def test_customers_stop_on_an_empty_list_whose_cursor_is_null() -> None:
    with HttpMocker() as http:
        http.get(request("customers", per_page="200"), page("entries", [], None, False))
        output = read_stream("customers")

    assert output.records == []
    assert not output.errors


def test_activities_send_the_settings_dates_and_follow_the_cursor() -> None:
    dates = {"start-date": "2024-01-15T06:30:00Z", "end-date": "2024-06-30T23:59:59Z"}
    with HttpMocker() as http:
        http.get(request("activities", per_page="200", **dates), page("entries", [activity(1)], "act-0001", True))
        http.get(request("activities", per_page="200", cursor="act-0001", **dates), page("entries", [activity(2)], "act-0002", True))
        http.get(request("activities", per_page="200", cursor="act-0002", **dates), page("entries", [activity(3)], "act-0003", False))
        output = read_stream("activities")

    assert [record.record.data for record in output.records] == [activity(1), activity(2), activity(3)]


@pytest.mark.parametrize(
    "interval_setting, interval_sent",
    [pytest.param({}, "month", id="missing-interval-behaves-as-month"), pytest.param({"interval": "week"}, "week", id="week")],
)
def test_customer_count_sends_dates_as_days_and_the_interval(interval_setting: dict[str, str], interval_sent: str) -> None:
    entries = [{"date": "2024-01-31", "customers": 10, "percentage-change": 0.0}, {"date": "2024-02-29", "customers": 12, "percentage-change": 20.0}]
    body = json.dumps({"entries": entries, "summary": {"current": 12, "previous": 10, "percentage-change": 20.0}})
    query = {"start-date": "2024-01-15", "end-date": "2024-06-30", "interval": interval_sent}
    with HttpMocker() as http:
        http.get(request("metrics/customer-count", **query), HttpResponse(body))
        output = read_stream("customer_count", {**CONFIG, **interval_setting})

    assert [record.record.data for record in output.records] == entries


def test_account_is_one_record_from_the_whole_body() -> None:
    body = {"name": "Example Co", "currency": "EUR", "time_zone": "Europe/Berlin", "week_start_on": "monday"}
    with HttpMocker() as http:
        http.get(request("account"), HttpResponse(json.dumps(body)))
        output = read_stream("account")

    assert [record.record.data for record in output.records] == [body]


def test_a_stream_not_selected_costs_no_request() -> None:
    with HttpMocker() as http:  # HttpMocker fails the test on any request it was not given
        http.get(request("account"), HttpResponse(json.dumps({"name": "Example Co"})))
        output = read_stream("account")

    assert [record.record.stream for record in output.records] == ["account"]
