"""Faults of the network and the API, end to end: each sync ends with exactly the emulator's ground truth, or fails
with a non-zero exit and a message naming the stream and the cause. Never a loop, never success with data missing."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from airbyte_cdk.models import SyncMode
from airbyte_cdk.sources.declarative.concurrent_declarative_source import ConcurrentDeclarativeSource
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import read

from integration_tests.connector_cli import STREAM_NAMES, as_multiset
from chartmogul_emulator.stream_truth import ground_truth
from integration_tests.reliability import CONFIG, SECRET_KEY, run_without_leaking
from source_chartmogul.source import written_manifest

SMALL = dict(customers=40, activities=400, api_key=SECRET_KEY)  # customer_subscriptions costs one request per customer
TWO_PAGES = dict(customers=1000, activities=400, api_key=SECRET_KEY)  # 300 contacts: two pages, so a fault can hit page 2


def assert_exact(run: Any, emulator: Any, config: dict[str, Any], streams: list[str]) -> None:
    assert run.returncode == 0 and run.errors() == []
    for stream in streams:
        assert as_multiset(run.records(stream)) == as_multiset(ground_truth(emulator, stream, config)), stream


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_stream_is_exact_under_5_percent_random_5xx(seed: int, chartmogul_emulator_factory: Any, tmp_path: Path) -> None:
    emulator = chartmogul_emulator_factory(seed=seed, fault_rate=0.05, fault_kinds=("500", "502", "503", "504"), **SMALL)
    config = {**CONFIG, "base_url": emulator.url}
    run = run_without_leaking("read", tmp_path, config)
    assert sum(emulator.stats()["faults"].values()) > 0, "the seed must inject faults"
    assert_exact(run, emulator, config, STREAM_NAMES)


@pytest.mark.parametrize("seed", [4, 5])
def test_every_stream_is_exact_under_random_connection_resets(seed: int, chartmogul_emulator_factory: Any, tmp_path: Path) -> None:
    emulator = chartmogul_emulator_factory(seed=seed, fault_rate=0.05, fault_kinds=("reset",), **SMALL)
    config = {**CONFIG, "base_url": emulator.url}
    run = run_without_leaking("read", tmp_path, config)
    assert emulator.stats()["faults"].get("reset", 0) > 0
    assert_exact(run, emulator, config, STREAM_NAMES)


def test_every_stream_is_exact_through_bursts_of_429_with_retry_after(chartmogul_emulator_factory: Any, tmp_path: Path) -> None:
    # The connector is paced just above the emulator's limit of 15 a second, which answers the excess with bursts of
    # 429 + Retry-After: 1. (Unpaced, ten workers against 15 a second could starve a request past its 5 retries.) How
    # many depends on the machine's speed; a burst of three on the first customers page is there whatever it is.
    emulator = chartmogul_emulator_factory(seed=6, rate_limit=15, retry_after=1, **SMALL)
    emulator.script_fault("/v1/customers", "429", nth=1, times=3)
    config = {**CONFIG, "base_url": emulator.url, "concurrency_level": 4, "max_requests_per_second": 17}
    run = run_without_leaking("read", tmp_path, config)
    stats = emulator.stats()
    assert stats["statuses"]["429"] >= 3 and stats["refused_not_served_again"] == []
    assert_exact(run, emulator, config, STREAM_NAMES)


def test_a_burst_of_429_without_retry_after_is_retried_with_backoff(chartmogul_emulator_factory: Any, tmp_path: Path) -> None:
    emulator = chartmogul_emulator_factory(seed=7, **TWO_PAGES)
    emulator.script_fault("/v1/contacts", "429", nth=2, times=2)  # the real API sends no Retry-After
    config = {**CONFIG, "base_url": emulator.url}
    run = run_without_leaking("read", tmp_path, config, streams=["contacts"])
    assert emulator.stats()["statuses"].get("429") == 2
    assert_exact(run, emulator, config, ["contacts"])


@pytest.mark.parametrize("kind", ["truncated", "html200", "empty_page_has_more"])
@pytest.mark.parametrize("stream,path", [("contacts", "/v1/contacts"), ("activities", "/v1/activities")])
def test_a_bad_page_is_read_again_and_the_stream_is_exact(kind: str, stream: str, path: str, chartmogul_emulator_factory: Any, tmp_path: Path) -> None:
    emulator = chartmogul_emulator_factory(seed=8, **TWO_PAGES)
    emulator.script_fault(path, kind, nth=2)
    config = {**CONFIG, "base_url": emulator.url}
    run = run_without_leaking("read", tmp_path, config, streams=[stream])
    assert emulator.stats()["faults"] == {kind: 1}
    assert_exact(run, emulator, config, [stream])


def test_a_response_slower_than_the_read_timeout_is_abandoned_and_retried(chartmogul_emulator_factory: Any, tmp_path: Path) -> None:
    # The manifest's read timeout is 30 s: the slow answer (31 s) is given up and the page asked again.
    emulator = chartmogul_emulator_factory(seed=9, slow_seconds=31, **TWO_PAGES)
    emulator.script_fault("/v1/contacts", "slow", nth=2)
    config = {**CONFIG, "base_url": emulator.url}
    started = time.monotonic()
    run = run_without_leaking("read", tmp_path, config, streams=["contacts"], debug=True)  # the key hidden on a timeout
    assert 30 <= time.monotonic() - started < 31 + 30, "waited for the timeout, not for the slow answer"
    assert sum(emulator.stats()["requests"]["/v1/contacts"].values()) == 2 + 1  # two pages, the slow one asked twice
    assert_exact(run, emulator, config, ["contacts"])


def test_a_repeated_cursor_fails_the_stream_without_duplicating_a_record(chartmogul_emulator_factory: Any, tmp_path: Path) -> None:
    emulator = chartmogul_emulator_factory(seed=10, **TWO_PAGES)  # 1,000 customers: five pages, so page 2 has more after it
    emulator.script_fault("/v1/customers", "repeat_cursor", nth=2)
    config = {**CONFIG, "base_url": emulator.url}
    run = run_without_leaking("read", tmp_path, config, streams=["customers"])

    assert run.returncode == 1
    stream_errors = [e for e in run.errors() if e.get("stream_descriptor")]
    assert [(e["stream_descriptor"]["name"], e["internal_message"]) for e in stream_errors] == [(
        "customers",
        "ChartMogul returned the cursor it was sent for customers: following it would read the same page again; retry"
        " the sync later",
    )]
    emitted = run.records("customers")
    assert len(emitted) == len({c["uuid"] for c in emitted}) == 400, "pages 1 and 2 are delivered once each; the repeat is not followed"
    assert sum(emulator.stats()["requests"]["/v1/customers"].values()) == 2


def test_empty_pages_that_keep_repeating_the_cursor_fail_after_five(chartmogul_emulator_factory: Any, tmp_path: Path) -> None:
    emulator = chartmogul_emulator_factory(seed=11, **TWO_PAGES)
    emulator.script_fault("/v1/contacts", "empty_page_has_more", nth=2, times=100)
    config = {**CONFIG, "base_url": emulator.url}
    run = run_without_leaking("read", tmp_path, config, streams=["contacts"], timeout=60)

    assert run.returncode == 1
    assert [e["internal_message"] for e in run.errors() if e.get("stream_descriptor")] == [
        "ChartMogul kept answering empty pages with the same cursor for contacts (5 times): retry the sync later"
    ]
    assert sum(emulator.stats()["requests"]["/v1/contacts"].values()) == 1 + 6


def test_a_page_that_stays_html_fails_the_stream_naming_the_cause(chartmogul_emulator_factory: Any, tmp_path: Path) -> None:
    emulator = chartmogul_emulator_factory(seed=12, **TWO_PAGES)
    emulator.script_fault("/v1/contacts", "html200", nth=2, times=100)
    config = {**CONFIG, "base_url": emulator.url}
    started = time.monotonic()
    run = run_without_leaking("read", tmp_path, config, streams=["contacts"], timeout=150, debug=True)  # and in the traces

    assert run.returncode == 1
    assert time.monotonic() - started < 120, "five retries, about 67 s of backoff"
    (error,) = [e for e in run.errors() if e.get("stream_descriptor")]
    assert error["stream_descriptor"]["name"] == "contacts"
    assert error["message"] == (
        f"Exhausted available request attempts. Please see logs for more details. Exception: ChartMogul answered"
        f" {emulator.url}/v1/contacts with a body that is not the expected JSON (an HTML page or a response cut short)"
        " through 5 retries. Retry the sync later; check https://status.chartmogul.com if it persists."
    )
    assert sum(emulator.stats()["requests"]["/v1/contacts"].values()) == 1 + 6


def test_under_debug_failed_and_retried_requests_are_logged_with_the_key_masked(chartmogul_emulator_factory: Any, tmp_path: Path) -> None:
    """--debug logs every attempt with its headers and every answer with its status and body: the Authorization header
    shows as ****, in no form of the key (run_without_leaking), and the URL and the status stay."""
    emulator = chartmogul_emulator_factory(seed=13, **TWO_PAGES)
    for path, kind, nth in [("/v1/contacts", "500", 1), ("/v1/contacts", "reset", 3), ("/v1/plans", "503", 1),
                            ("/v1/tasks", "429", 1)]:  # a 403 stops every stream: test_fail_fast.py
        emulator.script_fault(path, kind, nth=nth)
    config = {**CONFIG, "base_url": emulator.url}
    run = run_without_leaking("read", tmp_path, config, streams=["contacts", "plans", "tasks", "plan_groups"], debug=True)

    assert run.returncode == 0 and run.errors() == []
    assert emulator.stats()["faults"] == {"500": 1, "reset": 1, "503": 1, "429": 1}
    for stream in ["contacts", "plans", "tasks", "plan_groups"]:
        assert as_multiset(run.records(stream)) == as_multiset(ground_truth(emulator, stream, config)), stream
    debug = run.of_type("DEBUG")
    sent = [m["data"] for m in debug if m["message"] == "Making outbound API request"]
    assert len(sent) == sum(sum(counts.values()) for counts in emulator.stats()["requests"].values()) == 9  # 6 pages, 3 retries
    assert all("'Authorization': '****'" in request["headers"] for request in sent)
    assert {request["url"].split("?")[0] for request in sent} == {f"{emulator.url}/v1/{name}" for name in ["contacts", "plans", "tasks", "plan_groups"]}
    statuses = sorted({m["data"]["status"] for m in debug if m["message"] == "Receiving response"})
    assert statuses == ["200", "429", "500", "503"]


# ---------------------------------------------------------------- the shapes in which a list says there is more
MULTI_PAGE = dict(customers=1000, activities=4000, api_key=SECRET_KEY)  # customers, invoices, events, contacts, notes: several pages


@pytest.mark.parametrize("seed", [13, 14])
def test_every_stream_is_exact_when_lists_say_more_only_inside_meta(seed: int, chartmogul_emulator_factory: Any, tmp_path: Path) -> None:
    # subscription_events__5 (Aug 2023): has_more and cursor inside `meta`, none at the top level; here on every page of every list
    emulator = chartmogul_emulator_factory(seed=seed, paging_shape="meta", **MULTI_PAGE)
    config = {**CONFIG, "base_url": emulator.url}
    run = run_without_leaking("read", tmp_path, config)
    assert emulator.stats()["requests"]["/v1/customers"] == {"200": 2 * 5}, "five pages, read by customers and by the parent router"
    assert_exact(run, emulator, config, STREAM_NAMES)


def pages_without_cursor(resource: str, pages: int) -> str:
    return (f"ChartMogul answered page 1 of {pages} of {resource} without a cursor: the rest of the list can only be"
            " asked by page number, which the API deprecates; retry the sync later")


HAS_MORE_WITHOUT_CURSOR = "ChartMogul answered has_more true without a cursor for customers: the rest of the list cannot be read; retry the sync later"


@pytest.mark.parametrize("seed", [15, 16])
def test_lists_that_say_more_only_with_page_counts_fail_each_stream_naming_what_it_saw(seed: int, chartmogul_emulator_factory: Any, tmp_path: Path) -> None:
    # plans__4, invoices__3 (page counts, no cursor), customers_list__8 (has_more, no cursor): the next page can only be
    # asked with the deprecated `page`. Each list of several pages fails, naming what it saw; the others are exact.
    emulator = chartmogul_emulator_factory(seed=seed, paging_shape="legacy", **MULTI_PAGE)
    config = {**CONFIG, "base_url": emulator.url}
    run = run_without_leaking("read", tmp_path, config)

    assert run.returncode == 1
    pages = {stream: -(-len(ground_truth(emulator, stream, config)) // 200) for stream in ("invoices", "subscription_events", "contacts", "customer_notes")}
    shown = {e["stream_descriptor"]["name"]: e["message"] for e in run.errors() if e.get("stream_descriptor")}
    # customers and customer_subscriptions (its parent's list) fail on the same page: one trace, whichever comes first
    (parent_list,) = [stream for stream, message in shown.items() if message == HAS_MORE_WITHOUT_CURSOR]
    assert parent_list in ("customers", "customer_subscriptions")
    assert {stream: message for stream, message in shown.items() if stream != parent_list} == {
        stream: pages_without_cursor(stream, n) for stream, n in pages.items()}
    (summary,) = [e["message"] for e in run.errors() if not e.get("stream_descriptor")]
    assert {"customers", "customer_subscriptions", *pages} <= set(summary.split(". ")[0].split(": ")[1].split(", "))
    assert min(pages.values()) >= 2
    assert_exact_streams = [s for s in STREAM_NAMES if s not in ("customers", "customer_subscriptions", *pages)]
    for stream in assert_exact_streams:
        assert as_multiset(run.records(stream)) == as_multiset(ground_truth(emulator, stream, config)), stream


@pytest.mark.parametrize("seed", [17, 18])
def test_every_stream_is_exact_through_short_pages_that_say_has_more(seed: int, chartmogul_emulator_factory: Any, tmp_path: Path) -> None:
    # A page shorter than per_page is not the end while has_more is true (customer subscriptions page by page number
    # and are never served short by the emulator).
    emulator = chartmogul_emulator_factory(seed=seed, fault_rate=0.3, fault_kinds=("short_page_has_more",), **MULTI_PAGE)
    config = {**CONFIG, "base_url": emulator.url}
    run = run_without_leaking("read", tmp_path, config)
    assert emulator.stats()["faults"]["short_page_has_more"] > 100
    assert_exact(run, emulator, config, STREAM_NAMES)


@pytest.mark.parametrize("kind", ["html200", "truncated"])
@pytest.mark.parametrize("nth", [1, 3], ids=["first page", "a middle page"])
def test_a_bad_page_of_a_parent_list_is_read_again_and_parent_and_children_are_exact(
    kind: str, nth: int, chartmogul_emulator_factory: Any, tmp_path: Path
) -> None:
    # customers (five pages) is the parent of customer_subscriptions, plan_groups (one page) of plan_group_plans. The
    # CDK would cache a parent's bad 200 and replay it on every retry: the cache is off, the page is asked again.
    emulator = chartmogul_emulator_factory(seed=19, **MULTI_PAGE)
    emulator.script_fault("/v1/customers", kind, nth=nth)
    emulator.script_fault("/v1/plan_groups", kind, nth=min(nth, 2))
    config = {**CONFIG, "base_url": emulator.url}
    streams = ["customers", "customer_subscriptions", "plan_groups", "plan_group_plans"]
    run = run_without_leaking("read", tmp_path, config, streams=streams)
    assert emulator.stats()["faults"] == {kind: 2}
    assert emulator.stats()["requests"]["/v1/customers"] == {"200": 2 * 5 + 1}, "each list read twice, the bad page once more"
    assert_exact(run, emulator, config, streams)


@pytest.mark.parametrize("shape", ["meta", "legacy"])
def test_the_manifest_alone_follows_and_fails_on_the_same_shapes(shape: str, chartmogul_emulator_factory: Any) -> None:
    """The Connector Builder's view (no Python of ours): the same records, the same sentences, from the manifest's
    response filter."""
    emulator = chartmogul_emulator_factory(seed=20, paging_shape=shape, **MULTI_PAGE)
    config = {**CONFIG, "base_url": emulator.url}
    streams = ["customers", "invoices", "plans"]
    catalog = CatalogBuilder()
    for stream in streams:
        catalog = catalog.with_stream(stream, SyncMode.full_refresh)
    output = read(ConcurrentDeclarativeSource(source_config=written_manifest(), config=config, catalog=catalog.build()), config, catalog.build())

    errors = {e.trace.error.stream_descriptor.name: (e.trace.error.message, e.trace.error.failure_type.name) for e in output.errors if e.trace.error.stream_descriptor}
    records = {stream: [r.record.data for r in output.records if r.record.stream == stream] for stream in streams}
    if shape == "meta":
        assert errors == {}
        exact = streams
    else:
        assert errors == {"customers": (HAS_MORE_WITHOUT_CURSOR, "transient_error"),
                          "invoices": (pages_without_cursor("invoices", 5), "transient_error")}
        exact = ["plans"]
    for stream in exact:
        assert as_multiset(records[stream]) == as_multiset(ground_truth(emulator, stream, config)), stream
