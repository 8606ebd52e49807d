"""cdk_seam.py, the package's one module that touches airbyte-cdk internals: each use pinned to the CDK version.

A CDK upgrade must pass these tests; one that fails names the seam function to revisit (its docstring says what would
retire it). Nothing else of the package names another package's private attribute."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import threading

import requests
from importlib.metadata import version
from pathlib import Path
from typing import Any

from airbyte_cdk.models import SyncMode
from airbyte_cdk.sources.declarative.requesters.error_handlers.http_response_filter import HttpResponseFilter
from airbyte_cdk.sources.declarative.partition_routers.substream_partition_router import SubstreamPartitionRouter
from airbyte_cdk.sources.message.concurrent_repository import ConcurrentMessageRepository
from airbyte_cdk.sources.streams.concurrent.cursor import ConcurrentCursor, FinalStateCursor
from airbyte_cdk.sources.streams.concurrent.default_stream import DefaultStream
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.sources.types import Record
from airbyte_cdk.test.state_builder import StateBuilder

from source_chartmogul import SourceChartmogul, cdk_seam
from source_chartmogul.subscriptions_cursor import CustomerSubscriptionsCursor

ROOT = Path(__file__).resolve().parents[1]
CONFIG = {"api_key": "sk_unit_seam_7a2e", "start_date": "2024-01-15T06:30:00Z", "end_date": "2024-06-30T23:59:59Z"}


def test_the_seam_is_pinned_to_the_cdk_it_was_written_for() -> None:
    assert version("airbyte-cdk") == cdk_seam.PINNED_CDK == "7.39.1"



def test_no_other_module_of_the_package_names_a_private_attribute_of_another_package() -> None:
    """Attribute reads or writes of `_name` on anything but `self`/`cls` (ours), outside cdk_seam.py."""
    found = []
    for path in sorted((ROOT / "source_chartmogul").rglob("*.py")):
        if path.name == "cdk_seam.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                owner = node.value
                if not (isinstance(owner, ast.Name) and (owner.id in ("self", "cls") or owner.id.startswith("_"))):
                    found.append(f"{path.name}:{node.lineno} .{node.attr}")
    assert found == []


def test_the_saved_state_and_the_message_repository_are_the_sources_own() -> None:
    state = StateBuilder().with_stream_state("tasks", {"cursor": "c9"}).build()
    source = SourceChartmogul(config=CONFIG, state=state)
    assert cdk_seam.saved_state(source, "tasks") == {"cursor": "c9"}
    assert cdk_seam.saved_state(source, "plans") == {}
    # the repository that queues messages behind the workers' records: a checkpoint follows the records it covers
    assert isinstance(cdk_seam.message_repository(source), ConcurrentMessageRepository)


def test_full_refresh_lists_still_get_the_cdks_final_state_cursor_and_no_checkpoint_of_their_own() -> None:
    """Retire resumable.py when the CDK checkpoints concurrent declarative full-refresh streams itself."""
    source = SourceChartmogul(config=CONFIG)
    built = {s.name: s for s in super(SourceChartmogul, source).streams(CONFIG)}
    assert isinstance(built["invoices"].cursor, FinalStateCursor)


def test_the_customer_subscriptions_cursor_is_installed_in_the_stream_the_factory_built() -> None:
    catalog = CatalogBuilder().with_stream("customer_subscriptions", SyncMode.incremental).build()
    source = SourceChartmogul(catalog=catalog, config=CONFIG)
    (stream,) = [s for s in source.streams(CONFIG) if s.name == "customer_subscriptions"]
    assert isinstance(stream, DefaultStream)
    assert isinstance(stream.cursor, CustomerSubscriptionsCursor) and stream.cursor_field == "customer_uuid"
    built = [s for s in super(SourceChartmogul, source).streams(CONFIG) if s.name == "customer_subscriptions"][0]
    router = cdk_seam.partition_router(built)  # what ours walks: the manifest's own customers router
    assert isinstance(router, SubstreamPartitionRouter)
    assert [c.stream.name for c in router.parent_stream_configs] == ["customers"]


def test_the_activities_parent_is_seeded_from_the_parent_state_of_customer_subscriptions() -> None:
    state = StateBuilder().with_stream_state("customer_subscriptions", {
        "parent_state": {"activities": {"date": "2024-06-20T00:00:00Z"}}, "rotation_day": 19890, "rotation_days": 7}).build()
    source = SourceChartmogul(config=CONFIG, state=state)
    activities = cdk_seam.build_activities_from_parent_state(source, CONFIG, "customer_subscriptions", "customer_uuid")
    assert activities.name == "activities"
    assert [w.to_slice()["start_time"] for w in activities.generate_partitions()][0] == "2024-05-21T00:00:00Z"  # 30 days back


def test_a_bounded_thread_pool_holds_the_partition_generators_at_the_bound() -> None:
    source = SourceChartmogul(config=CONFIG)
    cdk_seam.bound_partitions_waiting(source, 3)
    pool = source._concurrent_source._threadpool  # noqa: SLF001 - what the seam sets, read where it is pinned
    release = threading.Event()
    try:
        for _ in range(2):
            pool.submit(release.wait)
        assert pool.prune_to_validate_has_reached_futures_limit() is False
        pool.submit(release.wait)
        assert pool.prune_to_validate_has_reached_futures_limit() is True
    finally:
        release.set()
    pool._threadpool.shutdown(wait=True)  # noqa: SLF001
    assert pool.prune_to_validate_has_reached_futures_limit() is False  # done partitions make room again


def test_a_single_worker_keeps_the_cdks_bound_as_it_generates_the_partitions_it_waits_for() -> None:
    source = SourceChartmogul(config={**CONFIG, "concurrency_level": 1})
    cdk_seam.bound_partitions_waiting(source, 3)
    pool = source._concurrent_source._threadpool  # noqa: SLF001
    release = threading.Event()
    try:
        for _ in range(3):
            pool.submit(release.wait)
        assert pool.prune_to_validate_has_reached_futures_limit() is False  # 10,000, the CDK's
    finally:
        release.set()
    pool._threadpool.shutdown(wait=True)  # noqa: SLF001


def test_the_newest_date_per_window_reaches_the_cursor_as_the_cdks_own_observe_leaves_it() -> None:
    """Both ways, the cursor's state after the same windows and records is the same."""
    states = []
    for fast in (False, True):
        catalog = CatalogBuilder().with_stream("activities", SyncMode.incremental).build()
        source = SourceChartmogul(catalog=catalog, config=CONFIG)
        (stream,) = [s for s in super(SourceChartmogul, source).streams(CONFIG) if s.name == "activities"]
        cursor = stream.cursor
        assert isinstance(cursor, ConcurrentCursor)
        if fast:
            cdk_seam.keep_newest_date_per_window(cursor, lambda date: isinstance(date, str) and date.endswith("+00:00"))
        for window in list(stream.generate_partitions())[:3]:
            for date in ("2024-01-20T00:00:00+00:00", "2024-01-25T10:00:00+00:00", "2024-01-21T00:00:00Z"):
                cursor.observe(Record(data={"date": date}, stream_name="activities", associated_slice=window.to_slice()))
            cursor.close_partition(window)
        states.append(json.dumps(cursor.state, default=str))
    assert states[0] == states[1]


def test_the_response_filters_parse_bodies_with_what_the_seam_gives_them() -> None:
    before = cdk_seam.json_body_of_response_filters()
    try:
        cdk_seam.check_json_bodies_with(lambda response: {"parsed": "by us"})
        response = requests.Response()
        response.status_code, response._content, response.url = 200, b"{}", "https://api.chartmogul.com/v1/x"
        matched = HttpResponseFilter(config={}, parameters={}, action="FAIL", predicate="{{ response.parsed == 'by us' }}",
                                     error_message="{{ response.parsed }}").matches(response)
        assert matched is not None and matched.error_message == "by us"
    finally:
        cdk_seam.check_json_bodies_with(before)


def test_serpyco_rs_reads_docstrings_where_the_seam_expects_and_gets_its_reader_back() -> None:
    program = ("from source_chartmogul import cdk_seam\n"
               "cdk_seam.import_cdk_without_protocol_docstrings()\n"
               "import airbyte_cdk.models\n"
               "print(cdk_seam.docstring_reader_modules())\n")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "['attributes_doc._base', 'attributes_doc._base']"


def test_a_streams_partitions_come_from_the_wrapped_generator() -> None:
    source = SourceChartmogul(config=CONFIG)
    (stream,) = [s for s in super(SourceChartmogul, source).streams(CONFIG) if s.name == "plans"]
    seen = []

    class Counting:
        def __init__(self, partitions: Any) -> None:
            self._partitions = partitions

        def generate(self) -> Any:
            for partition in self._partitions.generate():
                seen.append(partition.stream_name())
                yield partition

    cdk_seam.wrap_partitions(stream, Counting)
    assert len(list(stream.generate_partitions())) == 1 and seen == ["plans"]
