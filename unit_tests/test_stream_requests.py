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
from airbyte_cdk.test.state_builder import StateBuilder

from source_chartmogul import SourceChartmogul
from unit_tests.recorded_bodies import recorded, recorded_text

API = "https://api.chartmogul.com/v1"
API_KEY = "sk_unit_7f3c2a9e41d84b6c"
CONFIG = {"api_key": API_KEY, "start_date": "2024-01-15T06:30:00Z", "end_date": "2024-06-30T23:59:59Z"}
# ChartMogul: HTTP Basic with the key as username and an empty password.
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{API_KEY}:".encode()).decode()}


# Parameters some resources always carry with the default settings, so that every field their schema declares is
# filled (unit_tests/test_declared_fields_are_asked_for.py); include_disabled_and_invalid false drops the first two
# of invoices and the one of subscription events.
ALWAYS_SENT = {
    "account": {"include": "churn_recognition,churn_when_zero_mrr,auto_churn_subscription,refund_handling,"
                           "proximate_movement_reclassification"},
    "data_sources": {"with_processing_status": "true", "with_auto_churn_subscription_setting": "true",
                     "with_invoice_handling_setting": "true"},
    "invoices": {"with_disabled": "true", "validation_type": "all", "include_edit_histories": "true"},
    "subscription_events": {"with_disabled": "true"},
}


def request(resource: str, **query: str) -> HttpRequest:
    """The request for `resource` with `query`, plus the parameters the resource always carries (ALWAYS_SENT)."""
    return HttpRequest(f"{API}/{resource}", query_params={**ALWAYS_SENT.get(resource, {}), **query}, headers=AUTH)


def page(records_key: str, records: list[Mapping[str, Any]], cursor: str | None, has_more: bool) -> HttpResponse:
    return HttpResponse(json.dumps({records_key: records, "cursor": cursor, "has_more": has_more}))


def read_stream(stream: str, config: Mapping[str, Any] = CONFIG, state: list[Any] | None = None) -> EntrypointOutput:
    catalog = CatalogBuilder().with_stream(stream, SyncMode.incremental if state else SyncMode.full_refresh).build()
    return read(SourceChartmogul(catalog=catalog, config=config, state=state), config, catalog, state)


def read_with_exact_requests(
    stream: str,
    exchanges: list[tuple[HttpRequest, HttpResponse]],
    config: Mapping[str, Any] = CONFIG,
    state: list[Any] | None = None,
) -> EntrypointOutput:
    """Reads `stream` while ChartMogul answers exactly these requests, and checks that each was made exactly once.

    HttpMocker used as a context manager does not check that its mocks were used, and a request it was not given
    only becomes an error message in the output (the read catches NoMockAddress), so both are checked here.
    """
    with HttpMocker() as http:
        for expected_request, response in exchanges:
            http.get(expected_request, response)
        output = read_stream(stream, config, state)

    assert [error.trace.error.message for error in output.errors] == []
    for expected_request, _ in exchanges:
        http.assert_number_of_calls(expected_request, 1)
    return output


def customer(n: int) -> dict[str, Any]:
    return {"id": n, "uuid": f"cus_{n:04d}", "name": f"Customer {n}", "customer-since": "2024-01-01T12:00:00+00:00"}


def activity(n: int) -> dict[str, Any]:
    return {"uuid": f"act-{n:04d}", "date": f"2024-02-{n:02d}T00:00:00+00:00", "type": "new_biz", "activity-mrr": 100 * n}


def emitted(output: EntrypointOutput) -> list[Mapping[str, Any]]:
    return [record.record.data for record in output.records]


def test_customers_follow_the_cursor_across_pages_with_per_page_200() -> None:
    output = read_with_exact_requests(
        "customers",
        [
            (request("customers", per_page="200"), page("entries", [customer(1), customer(2)], "c1", True)),
            (request("customers", per_page="200", cursor="c1"), page("entries", [customer(3)], "c2", True)),
            (request("customers", per_page="200", cursor="c2"), page("entries", [customer(4)], "c2-last", False)),
        ],
    )

    assert emitted(output) == [customer(1), customer(2), customer(3), customer(4)]


def test_customers_stop_on_an_empty_list_whose_cursor_is_null() -> None:
    output = read_with_exact_requests("customers", [(request("customers", per_page="200"), page("entries", [], None, False))])

    assert output.records == []


def dated_activity(name: str, date: str) -> dict[str, Any]:
    return {"uuid": name, "date": date, "type": "new_biz", "activity-mrr": 100}


def activities_request(start: str, end: str, **cursor: str) -> HttpRequest:
    return request("activities", per_page="200", **{"start-date": start, "end-date": end}, **cursor)


def test_activities_windows_overlap_by_a_second_and_keep_each_record_in_its_own_window() -> None:
    """15-day windows from start_date; each asked one second wider, so no boundary semantics loses a record."""
    config = {**CONFIG, "start_date": "2024-01-15T06:30:00Z", "end_date": "2024-02-10T00:00:00Z"}
    before_start = dated_activity("before-start", "2024-01-15T06:29:59+00:00")
    first_second = dated_activity("first-second", "2024-01-15T06:30:00+00:00")
    inside = dated_activity("inside", "2024-01-20T00:00:00+00:00")
    last_second_of_window_1 = dated_activity("last-second-1", "2024-01-30T06:29:59+00:00")
    first_second_of_window_2 = dated_activity("first-second-2", "2024-01-30T06:30:00+00:00")
    end_date_itself = dated_activity("end-date", "2024-02-10T00:00:00+00:00")
    after_end = dated_activity("after-end", "2024-02-10T00:00:01+00:00")
    output = read_with_exact_requests(
        "activities",
        [
            (activities_request("2024-01-15T06:29:59Z", "2024-01-30T06:30:00Z"),
             page("entries", [before_start, first_second, inside], "inside", True)),
            (activities_request("2024-01-15T06:29:59Z", "2024-01-30T06:30:00Z", cursor="inside"),
             page("entries", [last_second_of_window_1, first_second_of_window_2], "first-second-2", False)),
            (activities_request("2024-01-30T06:29:59Z", "2024-02-10T00:00:01Z"),
             page("entries", [last_second_of_window_1, first_second_of_window_2, end_date_itself, after_end], "after-end", False)),
        ],
        config,
    )

    # Windows are read in parallel, so their records may interleave.
    assert sorted(emitted(output), key=lambda r: r["date"]) == [
        first_second, inside, last_second_of_window_1, first_second_of_window_2, end_date_itself
    ]


@pytest.mark.parametrize(
    "lookback, exchanges",
    [
        pytest.param(
            {},
            [("2024-01-30T23:59:59Z", "2024-02-15T00:00:00Z"), ("2024-02-14T23:59:59Z", "2024-03-01T00:00:00Z"),
             ("2024-02-29T23:59:59Z", "2024-03-10T00:00:01Z")],
            id="default-30-days",
        ),
        pytest.param({"lookback_window_days": 0}, [("2024-02-29T23:59:59Z", "2024-03-10T00:00:01Z")], id="no-lookback"),
    ],
)
def test_an_incremental_sync_starts_at_the_state_less_the_lookback_and_saves_the_newest_date(
    lookback: dict[str, int], exchanges: list[tuple[str, str]]
) -> None:
    config = {**CONFIG, "start_date": "2023-01-01T00:00:00Z", "end_date": "2024-03-10T00:00:00Z", **lookback}
    state = StateBuilder().with_stream_state("activities", {"date": "2024-03-01T00:00:00Z"}).build()
    newest = dated_activity("newest", "2024-03-05T10:00:00+00:00")
    responses = [page("entries", [], None, False)] * (len(exchanges) - 1) + [page("entries", [newest], "newest", False)]
    output = read_with_exact_requests(
        "activities", [(activities_request(start, end), response) for (start, end), response in zip(exchanges, responses)], config, state
    )

    assert emitted(output) == [newest]
    assert output.most_recent_state.stream_state.__dict__ == {"date": "2024-03-05T10:00:00Z"}


@pytest.mark.parametrize(
    "interval_setting, interval_sent",
    [pytest.param({}, "month", id="missing-interval-behaves-as-month"), pytest.param({"interval": "week"}, "week", id="week")],
)
def test_customer_count_sends_dates_as_days_and_the_interval(interval_setting: dict[str, str], interval_sent: str) -> None:
    entries = [{"date": "2024-01-31", "customers": 10, "percentage-change": 0.0}, {"date": "2024-02-29", "customers": 12, "percentage-change": 20.0}]
    body = json.dumps({"entries": entries, "summary": {"current": 12, "previous": 10, "percentage-change": 20.0}})
    query = {"start-date": "2024-01-15", "end-date": "2024-06-30", "interval": interval_sent}
    output = read_with_exact_requests(
        "customer_count", [(request("metrics/customer-count", **query), HttpResponse(body))], {**CONFIG, **interval_setting}
    )

    assert emitted(output) == entries


def test_account_is_one_record_from_the_whole_body() -> None:
    body = {"name": "Example Co", "currency": "EUR", "time_zone": "Europe/Berlin", "week_start_on": "monday"}
    output = read_with_exact_requests("account", [(request("account"), HttpResponse(json.dumps(body)))])

    assert emitted(output) == [body]


def test_a_stream_not_selected_costs_no_request() -> None:
    # Any request besides the account one would be unmocked, and read_with_exact_requests fails on it.
    output = read_with_exact_requests("account", [(request("account"), HttpResponse(json.dumps({"name": "Example Co"})))])

    assert [record.record.stream for record in output.records] == ["account"]


# ---------------------------------------------------------------- real recorded bodies (unit_tests/resource/chartmogul)


def recorded_response(name: str, **envelope: Any) -> HttpResponse:
    """The body exactly as recorded, or with envelope keys (has_more) overridden to shape the pagination chain."""
    if not envelope:
        return HttpResponse(recorded_text(name))
    return HttpResponse(json.dumps({**recorded(name), **envelope}))


def as_emitted(records: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Records as the connector writes them: the CDK's message serializer (omit_none) drops top-level null fields,
    in production as here; nested nulls stay."""
    return [{key: value for key, value in record.items() if value is not None} for record in records]


def emitted_by_partition(output: EntrypointOutput, partition_field: str) -> dict[str | None, list[Mapping[str, Any]]]:
    # Partitions may be read concurrently, so only the order within one partition is meaningful.
    by_partition: dict[str | None, list[Mapping[str, Any]]] = {}
    for record in emitted(output):
        by_partition.setdefault(record.get(partition_field), []).append(record)  # a record without it groups under None
    return by_partition


@pytest.mark.parametrize(
    "stream, records_key, first_page, last_page",
    [
        # Each pair is one recorded cursor chain: the second body answered the first body's cursor.
        ("plans", "plans", "plans__1", "plans__2"),
        ("plan_groups", "plan_groups", "plan_groups__1", "plan_groups__2"),
        ("invoices", "invoices", "invoices__1", "invoices__2"),
        ("subscription_events", "subscription_events", "subscription_events__3", "subscription_events__4"),
        ("contacts", "entries", "contacts__1", "contacts__2"),
        ("customer_notes", "entries", "customer_notes__3", "customer_notes__4"),
        ("opportunities", "entries", "opportunities__3", "opportunities__4"),
        ("tasks", "entries", "tasks__3", "tasks__4"),
    ],
)
def test_list_stream_follows_the_recorded_cursor_with_per_page_200_and_emits_every_record(
    stream: str, records_key: str, first_page: str, last_page: str
) -> None:
    first_body = recorded(first_page)
    assert first_body["has_more"] is True  # the chain only proves something if the first page asks for more
    output = read_with_exact_requests(
        stream,
        [
            (request(stream, per_page="200"), recorded_response(first_page)),
            # has_more false ends the chain although the body still carries a cursor. Some of these recordings say
            # true here (the test account had more pages than the client's test read), hence the override.
            (request(stream, per_page="200", cursor=first_body["cursor"]), recorded_response(last_page, has_more=False)),
        ],
    )

    assert emitted(output) == as_emitted(first_body[records_key] + recorded(last_page)[records_key])


def test_subscription_events_follow_the_cursor_of_each_page_not_only_the_first() -> None:
    # subscription_events__4 (the answer to __3's cursor) says has_more with a new cursor: the third request uses that one.
    first_page, second_page = recorded("subscription_events__3"), recorded("subscription_events__4")
    output = read_with_exact_requests(
        "subscription_events",
        [
            (request("subscription_events", per_page="200"), recorded_response("subscription_events__3")),
            (request("subscription_events", per_page="200", cursor=first_page["cursor"]), recorded_response("subscription_events__4")),
            (request("subscription_events", per_page="200", cursor=second_page["cursor"]), page("subscription_events", [], None, False)),
        ],
    )

    assert emitted(output) == as_emitted(first_page["subscription_events"] + second_page["subscription_events"])


@pytest.mark.parametrize(
    "stream, resource, body",
    [("key_metrics", "metrics/all", "metrics_all__2"), ("mrr_metrics", "metrics/mrr", "metrics_mrr__3")],
)
@pytest.mark.parametrize(
    "interval_setting, interval_sent",
    [
        pytest.param({}, "month", id="missing-interval-behaves-as-month"),
        pytest.param({"interval": "week"}, "week", id="week"),
        pytest.param({"interval": "quarter"}, "quarter", id="quarter"),
    ],
)
def test_metric_stream_sends_dates_as_days_and_the_interval_in_one_request(
    stream: str, resource: str, body: str, interval_setting: dict[str, str], interval_sent: str
) -> None:
    # CONFIG holds date-times (2024-01-15T06:30:00Z .. 2024-06-30T23:59:59Z); the metrics API takes days. No per_page.
    query = {"start-date": "2024-01-15", "end-date": "2024-06-30", "interval": interval_sent}
    output = read_with_exact_requests(stream, [(request(resource, **query), recorded_response(body))], {**CONFIG, **interval_setting})

    assert emitted(output) == as_emitted(recorded(body)["entries"])  # the entries only: the summary is not a record


@pytest.mark.parametrize("body", ["data_sources__1", "data_sources__2", "data_sources__3", "data_sources__4"])
def test_data_sources_is_one_request_without_per_page_emitting_each_listed_source(body: str) -> None:
    # /v1/data_sources is not paginated: its body has no cursor or has_more.
    output = read_with_exact_requests("data_sources", [(request("data_sources"), recorded_response(body))])

    assert emitted(output) == as_emitted(recorded(body)["data_sources"])


# plan_groups__1 -> __2 -> __3 is one recorded cursor chain of three pages; __3 says has_more false.
PLAN_GROUP_WITH_TWO_PAGES_OF_PLANS = "plg_5f1af63a-ec94-4688-9127-5eb816d05a8f"  # plan_group_plans__1 -> __2 were recorded for it
PLAN_GROUP_WITHOUT_PLANS = "plg_596af607-ea77-45a3-8d0b-5f1f6b31bf3b"  # plans_count 0
PLAN_GROUP_WITH_ONE_PLAN = "plg_2b0acfd9-ef53-45a9-8dab-49b5d713e6e5"  # plan_group_plans__3 was recorded for it


def test_plan_group_plans_reads_every_plan_group_page_then_each_groups_plans_with_the_group_uuid_added() -> None:
    assert [group["uuid"] for name in ("plan_groups__1", "plan_groups__2", "plan_groups__3") for group in recorded(name)["plan_groups"]] == [
        PLAN_GROUP_WITH_TWO_PAGES_OF_PLANS,
        PLAN_GROUP_WITHOUT_PLANS,
        PLAN_GROUP_WITH_ONE_PLAN,
    ]
    plans_of = f"plan_groups/{PLAN_GROUP_WITH_TWO_PAGES_OF_PLANS}/plans"
    output = read_with_exact_requests(
        "plan_group_plans",
        [
            (request("plan_groups", per_page="200"), recorded_response("plan_groups__1")),
            (request("plan_groups", per_page="200", cursor=recorded("plan_groups__1")["cursor"]), recorded_response("plan_groups__2")),
            (request("plan_groups", per_page="200", cursor=recorded("plan_groups__2")["cursor"]), recorded_response("plan_groups__3")),
            (request(plans_of, per_page="200"), recorded_response("plan_group_plans__1")),
            (request(plans_of, per_page="200", cursor=recorded("plan_group_plans__1")["cursor"]), recorded_response("plan_group_plans__2")),
            (request(f"plan_groups/{PLAN_GROUP_WITHOUT_PLANS}/plans", per_page="200"), page("plans", [], None, False)),
            (request(f"plan_groups/{PLAN_GROUP_WITH_ONE_PLAN}/plans", per_page="200"), recorded_response("plan_group_plans__3")),
        ],
    )

    def in_group(body: str, plan_group_uuid: str) -> list[dict[str, Any]]:
        return as_emitted([{**plan, "plan_group_uuid": plan_group_uuid} for plan in recorded(body)["plans"]])

    assert emitted_by_partition(output, "plan_group_uuid") == {
        PLAN_GROUP_WITH_TWO_PAGES_OF_PLANS: in_group("plan_group_plans__1", PLAN_GROUP_WITH_TWO_PAGES_OF_PLANS)
        + in_group("plan_group_plans__2", PLAN_GROUP_WITH_TWO_PAGES_OF_PLANS),
        PLAN_GROUP_WITH_ONE_PLAN: in_group("plan_group_plans__3", PLAN_GROUP_WITH_ONE_PLAN),
    }


# customers_list__1 -> __2 is one recorded cursor chain; __2 still says has_more, so the test ends the chain there.
CUSTOMER_WITH_TWO_PAGES_OF_SUBSCRIPTIONS = "cus_23740208-2c7e-11ee-9ea2-ffd2435982bb"
CUSTOMER_WITH_TWO_SUBSCRIPTIONS = "cus_23c11cf0-2c7e-11ee-b2cd-fbfd681a34dd"


def test_customer_subscriptions_reads_every_customer_page_then_each_customers_subscriptions_with_the_customer_uuid_added() -> None:
    assert [listed["uuid"] for name in ("customers_list__1", "customers_list__2") for listed in recorded(name)["entries"]] == [
        CUSTOMER_WITH_TWO_PAGES_OF_SUBSCRIPTIONS,
        CUSTOMER_WITH_TWO_SUBSCRIPTIONS,
    ]
    # customer_subscriptions__7 -> __8 is a recorded cursor chain (of another account's customer: the bodies are reused).
    subscriptions_of = f"customers/{CUSTOMER_WITH_TWO_PAGES_OF_SUBSCRIPTIONS}/subscriptions"
    output = read_with_exact_requests(
        "customer_subscriptions",
        [
            (request("customers", per_page="200"), recorded_response("customers_list__1")),
            (
                request("customers", per_page="200", cursor=recorded("customers_list__1")["cursor"]),
                recorded_response("customers_list__2", has_more=False),
            ),
            (request(subscriptions_of, per_page="200"), recorded_response("customer_subscriptions__7")),
            (
                request(subscriptions_of, per_page="200", cursor=recorded("customer_subscriptions__7")["cursor"]),
                recorded_response("customer_subscriptions__8"),
            ),
            (request(f"customers/{CUSTOMER_WITH_TWO_SUBSCRIPTIONS}/subscriptions", per_page="200"), recorded_response("customer_subscriptions__4")),
        ],
    )

    def of_customer(body: str, customer_uuid: str) -> list[dict[str, Any]]:
        return as_emitted([{**subscription, "customer_uuid": customer_uuid} for subscription in recorded(body)["entries"]])

    assert emitted_by_partition(output, "customer_uuid") == {
        CUSTOMER_WITH_TWO_PAGES_OF_SUBSCRIPTIONS: of_customer("customer_subscriptions__7", CUSTOMER_WITH_TWO_PAGES_OF_SUBSCRIPTIONS)
        + of_customer("customer_subscriptions__8", CUSTOMER_WITH_TWO_PAGES_OF_SUBSCRIPTIONS),
        CUSTOMER_WITH_TWO_SUBSCRIPTIONS: of_customer("customer_subscriptions__4", CUSTOMER_WITH_TWO_SUBSCRIPTIONS),
    }


def test_selecting_only_a_child_stream_reads_its_parent_without_emitting_the_parents_records() -> None:
    output = read_with_exact_requests(
        "customer_subscriptions",
        [
            (request("customers", per_page="200"), page("entries", [customer(1)], "c1", False)),
            (request("customers/cus_0001/subscriptions", per_page="200"), recorded_response("customer_subscriptions__5")),
        ],
    )

    assert [record.record.stream for record in output.records] == ["customer_subscriptions"]


# ---------------------------------------------------------------- settings that change what is asked for


@pytest.mark.parametrize(
    "stream, query",
    [("invoices", {"per_page": "200", "include_edit_histories": "true"}), ("subscription_events", {"per_page": "200"})],
)
def test_include_disabled_and_invalid_false_asks_only_for_what_chartmogul_lists_by_default(stream: str, query: dict[str, str]) -> None:
    body = page(stream, [{"uuid": "inv_1", "id": 1}], None, False)
    exact = HttpRequest(f"{API}/{stream}", query_params=query, headers=AUTH)
    output = read_with_exact_requests(stream, [(exact, body)], {**CONFIG, "include_disabled_and_invalid": False})

    assert emitted(output) == [{"uuid": "inv_1", "id": 1}]


METRIC_STREAMS = [("customer_count", "metrics/customer-count"), ("key_metrics", "metrics/all"), ("mrr_metrics", "metrics/mrr")]
DAYS = {"start-date": "2024-01-15", "end-date": "2024-06-30", "interval": "month"}
ONE_ENTRY = HttpResponse(json.dumps({"entries": [{"date": "2024-01-31", "customers": 3}], "summary": {}}))


@pytest.mark.parametrize("stream, resource", METRIC_STREAMS)
@pytest.mark.parametrize(
    "settings, sent",
    [
        pytest.param({"metrics_filters": " currency~ANY~'USD','EUR' "}, {"filters": "currency~ANY~'USD','EUR'"}, id="filter-trimmed"),
        pytest.param({"metrics_geo": "us, GB,de"}, {"geo": "US,GB,DE"}, id="geo-as-codes"),
        pytest.param({"metrics_plans": "Gold monthly , pl_1"}, {"plans": "Gold monthly,pl_1"}, id="plans-trimmed"),
        pytest.param(
            {"metrics_filters": "plan~ANY~'pl_1'", "metrics_geo": "US", "metrics_plans": "Gold"},
            {"filters": "plan~ANY~'pl_1'", "geo": "US", "plans": "Gold"},
            id="all-three",
        ),
    ],
)
def test_metric_streams_send_the_segment_as_chartmogul_parameters(
    stream: str, resource: str, settings: dict[str, str], sent: dict[str, str]
) -> None:
    output = read_with_exact_requests(stream, [(request(resource, **DAYS, **sent), ONE_ENTRY)], {**CONFIG, **settings})

    assert emitted(output) == [{"date": "2024-01-31", "customers": 3}]


@pytest.mark.parametrize("stream, resource", METRIC_STREAMS)
@pytest.mark.parametrize(
    "status, body, message",
    [
        pytest.param(
            422, {"code": 422, "message": "Unknown filter field: 'colour'", "param": "filters"},
            "Unknown filter field: 'colour'. Correct metrics_filters,", id="422-filter",
        ),
        pytest.param(
            400, {"code": 400, "message": 'Parameter "geo" is invalid', "param": "geo"},
            'Parameter "geo" is invalid. Correct metrics_geo,', id="400-geo",
        ),
        pytest.param(
            422, {"code": 422, "message": 'Plan "Gold" does not exist', "param": "plans"},
            'Plan "Gold" does not exist. Correct metrics_plans,', id="422-plans",
        ),
        pytest.param(
            400, {"error": "bad"}, "HTTP 400 or 422 without a message. Correct metrics_filters, metrics_geo or metrics_plans,",
            id="400-other-body",
        ),
    ],
)
def test_a_segment_chartmogul_refuses_fails_the_stream_with_its_message_and_the_setting(
    stream: str, resource: str, status: int, body: dict[str, Any], message: str
) -> None:
    config = {**CONFIG, "metrics_filters": "colour~ANY~'red'", "metrics_geo": "US", "metrics_plans": "Gold"}
    segmented = request(resource, **DAYS, filters="colour~ANY~'red'", geo="US", plans="Gold")
    with HttpMocker() as http:
        http.get(segmented, HttpResponse(json.dumps(body), status))
        output = read_stream(stream, config)

    errors = [error.trace.error for error in output.errors if error.trace.error.stream_descriptor]
    assert [(e.stream_descriptor.name, e.failure_type.value) for e in errors] == [(stream, "config_error")]
    assert errors[0].message == (
        f"ChartMogul refused the {resource} request: {message} or leave the metrics_* settings empty to read the whole account."
    )
    http.assert_number_of_calls(segmented, 1)  # failed at once, not retried
