"""The customer_subscriptions cursor: what discover says of the stream, the rotation rule, and the completed-prefix
checkpoint as partitions close out of order. (How it is installed: unit_tests/test_cdk_seam.py.)"""

from __future__ import annotations

import datetime as dt
import time
import zlib
from typing import Any

import pytest
from airbyte_cdk.models import SyncMode
from airbyte_cdk.sources.message import InMemoryMessageRepository
from airbyte_cdk.sources.streams.concurrent.default_stream import DefaultStream
from airbyte_cdk.sources.types import StreamSlice
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.state_builder import StateBuilder

from source_chartmogul import SourceChartmogul
from source_chartmogul.subscriptions_cursor import CustomerSubscriptionsCursor, bucket_of, due_buckets
from unit_tests.test_stream_requests import activities_request, customer, emitted, page, read_with_exact_requests, request

CONFIG = {"api_key": "sk_unit_cursor_5e1f", "start_date": "2024-01-15T06:30:00Z", "end_date": "2024-06-30T23:59:59Z"}


def subscriptions_stream(sync_mode: SyncMode, state: Any = None) -> DefaultStream:
    catalog = CatalogBuilder().with_stream("customer_subscriptions", sync_mode).build()
    source = SourceChartmogul(catalog=catalog, config=CONFIG, state=state)
    (stream,) = [s for s in source.streams(CONFIG) if s.name == "customer_subscriptions"]
    return stream


def test_discover_offers_incremental_and_resumable_full_refresh_with_the_source_defined_cursor() -> None:
    stream = subscriptions_stream(SyncMode.full_refresh).as_airbyte_stream()
    assert (stream.supported_sync_modes, stream.source_defined_cursor, stream.default_cursor_field, stream.is_resumable) == (
        [SyncMode.full_refresh, SyncMode.incremental], True, ["customer_uuid"], True)
    assert stream.source_defined_primary_key == [["customer_uuid"], ["id"]]


def test_the_activities_read_for_the_selection_start_at_the_states_date_minus_the_lookback() -> None:
    state = StateBuilder().with_stream_state("customer_subscriptions", {
        "parent_state": {"activities": {"date": "2024-06-20T00:00:00Z"}}, "rotation_day": 19890, "rotation_days": 7}).build()
    cursor = subscriptions_stream(SyncMode.incremental, state).cursor
    windows = [w.to_slice() for w in cursor._activities._activities.generate_partitions()]
    assert [(w["start_time"], w["end_time"]) for w in windows] == [
        ("2024-05-21T00:00:00Z", "2024-06-04T23:59:59Z"), ("2024-06-05T00:00:00Z", "2024-06-19T23:59:59Z"),
        ("2024-06-20T00:00:00Z", "2024-06-30T23:59:59Z")]


def test_full_refresh_reads_no_activity() -> None:
    assert subscriptions_stream(SyncMode.full_refresh).cursor._activities is None


@pytest.mark.parametrize("last_day,today,n,due", [
    (None, 20789, 7, set(range(7))),  # no state
    (20789, 20789, 7, set()),  # the same day: activity customers only
    (20788, 20789, 7, {20789 % 7}),
    (20786, 20789, 7, {20787 % 7, 20788 % 7, 20789 % 7}),
    (20782, 20789, 7, set(range(7))),  # N days
    (20788, 20789, 1, {0}),
])
def test_due_buckets_follow_the_rule_of_issue_15(last_day: Any, today: int, n: int, due: set[int]) -> None:
    assert due_buckets(last_day, today, n) == due


def test_a_customers_bucket_is_crc32_of_its_uuid_modulo_n() -> None:
    assert bucket_of("cus_0001", 7) == 3896216368 % 7 == 2  # zlib.crc32(b"cus_0001") == 3896216368


class Customers:
    def __init__(self, uuids: list[str]) -> None:
        self.uuids = uuids

    def stream_slices(self):
        return (StreamSlice(partition={"customer_uuid": u, "parent_slice": {}}, cursor_slice={}) for u in self.uuids)


class Closed:
    def __init__(self, stream_slice: StreamSlice) -> None:
        self.stream_slice = stream_slice

    def to_slice(self) -> StreamSlice:
        return self.stream_slice


def test_the_checkpoint_names_the_completed_prefix_whatever_order_partitions_close_in() -> None:
    repository = InMemoryMessageRepository()
    cursor = CustomerSubscriptionsCursor("customer_subscriptions", "customer_uuid", Customers([f"cus_{n}" for n in range(5)]), None, {}, 7, "", 30, repository)
    slices = list(cursor.stream_slices())
    for n in (1, 3, 0):
        cursor.close_partition(Closed(slices[n]))
    assert cursor.state == {"resume": {"position": 1, "customer_uuid": "cus_1"}}
    cursor.ensure_at_least_one_state_emitted()
    cursor.close_partition(Closed(slices[2]))
    assert cursor.state == {"resume": {"position": 3, "customer_uuid": "cus_3"}}
    cursor.close_partition(Closed(slices[4]))
    cursor.ensure_at_least_one_state_emitted()
    states = [m.state.stream.stream_state.__dict__ for m in repository.consume_queue()]
    assert states == [{"resume": {"position": 1, "customer_uuid": "cus_1"}}, {"__ab_no_cursor_state_message": True}]


@pytest.mark.parametrize("listed,read", [
    (["cus_0", "cus_1", "cus_2", "cus_3"], ["cus_2", "cus_3"]),  # the list as the state saw it: the rest only
    (["cus_0", "cus_x", "cus_1", "cus_2", "cus_3"], ["cus_0", "cus_x", "cus_1", "cus_2", "cus_3"]),  # it changed: all
    (["cus_0"], ["cus_0"]),  # it got shorter than the prefix: what is left
])
def test_a_resumed_fan_out_skips_the_prefix_only_where_the_list_still_matches_it(listed: list[str], read: list[str]) -> None:
    state = {"resume": {"position": 1, "customer_uuid": "cus_1"}}
    cursor = CustomerSubscriptionsCursor("customer_subscriptions", "customer_uuid", Customers(listed), None, state, 7, "", 30, InMemoryMessageRepository())
    assert [s.partition["customer_uuid"] for s in cursor.stream_slices()] == read


def crc(uuid: str) -> int:
    return zlib.crc32(uuid.encode("utf-8"))


STATE_DATE = "2024-06-20T00:00:00Z"  # the windows read from it start 30 days earlier, 2024-05-21T00:00:00Z
KEPT = {"uuid": "act-0004", "date": "2024-06-05T08:00:00+00:00", "type": "expansion", "customer-uuid": "cus_0004"}
ON_THE_EDGE = {"uuid": "act-0005", "date": "2024-05-21T00:00:00+00:00", "type": "churn", "customer-uuid": "cus_0005"}
DIGEST = {"lookback_days": 30, "days": {"2024-05-21": [1, crc("act-0005")], "2024-06-05": [1, crc("act-0004")],
                                        "2024-06-12": [1, crc("act-gone")]}}  # act-gone was deleted since
NEW = {"uuid": "act-0001", "date": "2024-06-25T10:00:00+00:00", "type": "expansion", "customer-uuid": "cus_0002"}
BACKDATED = {"uuid": "act-0003", "date": "2024-06-10T09:00:00+00:00", "type": "new_biz", "customer-uuid": "cus_0003"}
NEIGHBOUR = {"uuid": "act-0006", "date": "2024-06-12T23:00:00+00:00", "type": "expansion", "customer-uuid": "cus_0006"}


@pytest.mark.parametrize("digest,asked", [
    (DIGEST, ["cus_0002", "cus_0003", "cus_0006"]),  # new, back-dated onto 06-10, on 06-12 which lost an activity
    (None, ["cus_0002", "cus_0003", "cus_0004", "cus_0005", "cus_0006"]),  # a state without digest: the whole window
    ({**DIGEST, "lookback_days": 10}, ["cus_0002", "cus_0003", "cus_0004", "cus_0005", "cus_0006"]),  # another lookback
], ids=["with the digest", "without", "of another lookback"])
def test_from_a_state_of_today_the_customers_of_new_activities_and_of_changed_days_are_asked(digest: Any, asked: list[str]) -> None:
    """Exact requests (HttpMocker): the customers list, the activities windows from the state's date minus the 30-day
    lookback to end_date, and the subscriptions of the customers with an activity dated after the state's date or on a
    day whose digest changed; no bucket is due (a state of today). The state written: the newest date and the digest
    of the 30 days before it."""
    day = int(time.time() // 86400)
    given = {"parent_state": {"activities": {"date": STATE_DATE}}, "rotation_day": day, "rotation_days": 7,
             **({"activity_days": digest} if digest else {})}
    windows = [("2024-05-20T23:59:59Z", "2024-06-05T00:00:00Z", [ON_THE_EDGE]),
               ("2024-06-04T23:59:59Z", "2024-06-20T00:00:00Z", [KEPT, BACKDATED, NEIGHBOUR]),
               ("2024-06-19T23:59:59Z", "2024-07-01T00:00:00Z", [NEW])]
    customers = [customer(n) for n in range(1, 7)]

    def subscription(uuid: str) -> dict[str, Any]:
        return {"id": int(uuid[-1]), "uuid": f"sub_{uuid}", "external_id": "s", "plan": "Gold",
                "start-date": "2024-06-01T00:00:00+00:00"}

    output = read_with_exact_requests("customer_subscriptions", [
        (request("customers", per_page="200"), page("entries", customers, "c1", False)),
        *[(activities_request(start, end), page("entries", found, None, False)) for start, end, found in windows],
        *[(request(f"customers/{uuid}/subscriptions", per_page="200"), page("entries", [subscription(uuid)], None, False))
          for uuid in asked],
    ], state=StateBuilder().with_stream_state("customer_subscriptions", given).build())
    assert sorted(r["customer_uuid"] for r in emitted(output)) == asked
    written = output.most_recent_state.stream_state.__dict__
    assert written == {
        "parent_state": {"activities": {"date": "2024-06-25T10:00:00Z"}}, "rotation_day": day, "rotation_days": 7,
        "activity_days": {"lookback_days": 30, "days": {  # from 2024-05-26T10:00:00Z: ON_THE_EDGE is too old
            "2024-06-05": [1, crc("act-0004")], "2024-06-10": [1, crc("act-0003")], "2024-06-12": [1, crc("act-0006")],
            "2024-06-25": [1, crc("act-0001")]}}}


def test_a_first_sync_reads_the_activities_windows_newest_first_until_they_cover_the_lookback_before_the_newest() -> None:
    """Exact requests (HttpMocker): every customer, and the activities windows from end_date back to the one that holds
    the newest activity's date minus the 30-day lookback, no earlier one; the state's digest counts the activities of
    those 30 days, the edge's instant included."""
    windows = [(w.to_slice()["start_time"], w.to_slice()["end_time"])
               for w in subscriptions_stream(SyncMode.incremental).cursor._activities._activities.generate_partitions()]
    assert windows[-4:] == [("2024-05-14T06:30:00Z", "2024-05-29T06:29:59Z"), ("2024-05-29T06:30:00Z", "2024-06-13T06:29:59Z"),
                            ("2024-06-13T06:30:00Z", "2024-06-28T06:29:59Z"), ("2024-06-28T06:30:00Z", "2024-06-30T23:59:59Z")]
    newest = {"uuid": "act-new", "date": "2024-06-14T12:00:00+00:00", "type": "expansion", "customer-uuid": "cus_0001"}
    on_the_edge = {"uuid": "act-edge", "date": "2024-05-15T12:00:00+00:00", "type": "new_biz", "customer-uuid": "cus_0002"}
    too_old = {"uuid": "act-old", "date": "2024-05-15T11:59:59+00:00", "type": "new_biz", "customer-uuid": "cus_0002"}
    found = {windows[-2]: [newest], windows[-4]: [too_old, on_the_edge]}

    def wider(start: str, end: str) -> tuple[str, str]:
        def moved(text: str, seconds: int) -> str:
            return (dt.datetime.fromisoformat(text.replace("Z", "+00:00")) + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return moved(start, -1), moved(end, 1)

    output = read_with_exact_requests("customer_subscriptions", [
        (request("customers", per_page="200"), page("entries", [customer(1), customer(2)], "c1", False)),
        *[(activities_request(*wider(*w)), page("entries", found.get(w, []), None, False)) for w in windows[-4:]],
        *[(request(f"customers/cus_000{n}/subscriptions", per_page="200"), page("entries", [], None, False)) for n in (1, 2)],
    ], state=StateBuilder().with_stream_state("customer_subscriptions", {}).build())
    assert output.most_recent_state.stream_state.__dict__ == {
        "parent_state": {"activities": {"date": "2024-06-14T12:00:00Z"}}, "rotation_day": int(time.time() // 86400),
        "rotation_days": 7, "activity_days": {"lookback_days": 30, "days": {
            "2024-05-15": [1, crc("act-edge")], "2024-06-14": [1, crc("act-new")]}}}
