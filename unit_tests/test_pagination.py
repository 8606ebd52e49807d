"""How a list goes on: the manifest's rules (its cursor pagination, and the response filter that fails a page it can
neither follow nor end) on every recorded page shape and on odd page chains, and the installed connector's cross-page
guard (pagination.py) on top of them."""

from __future__ import annotations

import json
from typing import Any, Callable

import pytest
import requests
from airbyte_cdk.sources.declarative.requesters.error_handlers.http_response_filter import HttpResponseFilter
from airbyte_cdk.sources.declarative.requesters.paginators.strategies.cursor_pagination_strategy import CursorPaginationStrategy
from airbyte_cdk.sources.types import StreamSlice

from source_chartmogul.pagination import RepeatedCursorGuard
from source_chartmogul.source import written_manifest
from unit_tests.recorded_bodies import recorded_text

Rules = Callable[[requests.Response, Any, StreamSlice], Any]  # a page -> the next cursor, None (the end), or raises


def manifest_rules(resource: str, guard: bool = False) -> Rules:
    """What the manifest runs for each list page: its response filter, then its cursor pagination (in the installed
    connector, wrapped in the guard)."""
    parameters = {"resource": resource, "records_key": "entries"}
    definitions = written_manifest()["definitions"]
    written = definitions["cursor_paginator"]["pagination_strategy"]
    strategy: Any = CursorPaginationStrategy(cursor_value=written["cursor_value"], stop_condition=written["stop_condition"],
                                             page_size=written["page_size"], config={}, parameters=parameters)
    if guard:
        strategy = RepeatedCursorGuard(strategy=strategy, config={}, parameters=parameters)
    page_filter = {key: value for key, value in definitions["page_without_a_way_on"].items() if key != "type"}
    response_filter = HttpResponseFilter(config={}, parameters=parameters, **page_filter)

    def next_cursor(response: requests.Response, sent: Any, partition: StreamSlice) -> Any:
        failed = response_filter.matches(response)
        if failed is not None:
            assert (failed.response_action.name, failed.failure_type.name) == ("FAIL", "transient_error")
            raise ValueError(failed.error_message)
        return strategy.next_page_token(response, 0, None, sent, stream_slice=partition)

    return next_cursor


def installed_rules(resource: str) -> Rules:
    return manifest_rules(resource, guard=True)


def paginate(rules: Rules, pages: list[dict[str, Any]]) -> list[Any]:
    """What the rules answer to each page of one partition in turn: the token sent next, None (the end), or the
    sentence the stream fails with."""
    partition = StreamSlice(partition={"customer_uuid": "cus_1"}, cursor_slice={}, extra_fields={})
    answers, sent = [], None
    for body in pages:
        response = requests.Response()
        response.status_code, response._content = 200, json.dumps(body).encode()
        response.url = "https://api.chartmogul.com/v1/customers/cus_1/subscriptions?per_page=200"
        try:
            sent = rules(response, sent, partition)
        except Exception as error:  # noqa: BLE001 - the filter's failure, or the guard's
            answers.append(getattr(error, "message", None) or str(error))
            break
        answers.append(sent)
        if sent is None:
            break
    return answers


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




CROSS_PAGE = ("a repeated cursor on a full page", "empty pages repeating the cursor, a sixth fails")


@pytest.mark.parametrize("pages", PAGE_CHAINS.values(), ids=PAGE_CHAINS.keys())
def test_the_manifest_alone_answers_every_page_as_the_installed_connector_but_the_cross_page_guard(pages: list[dict]) -> None:
    alone, installed = paginate(manifest_rules("customers/{customer_uuid}/subscriptions"), pages), paginate(
        installed_rules("customers/{customer_uuid}/subscriptions"), pages)
    if pages in [PAGE_CHAINS[name] for name in CROSS_PAGE]:
        assert alone == ["c1"] * len(pages)  # it follows the repeated cursor: what the Builder path lacks
        assert installed[-1].startswith("ChartMogul")
    else:
        assert alone == installed


def test_the_installed_connector_follows_ends_or_fails_each_shape_of_more_with_its_sentence() -> None:
    python = installed_rules("customers/{customer_uuid}/subscriptions")
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
