"""The cursor-paginated lists checkpoint the page in flight, resume there from a saved state, and end on the CDK's
sentinel, which reads them whole again (HttpMocker, exact requests, records and states in order)."""

from __future__ import annotations

from typing import Any

import pytest
from airbyte_cdk.models import SyncMode, Type
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput, discover, read
from airbyte_cdk.test.mock_http import HttpMocker, HttpResponse
from airbyte_cdk.test.state_builder import StateBuilder

from source_chartmogul import SourceChartmogul
from source_chartmogul.source import written_manifest
from unit_tests.test_stream_requests import CONFIG, page, request

# stream: (records key, primary key)
LISTS = {
    "customers": ("entries", "uuid"), "plans": ("plans", "uuid"), "plan_groups": ("plan_groups", "uuid"),
    "invoices": ("invoices", "uuid"), "subscription_events": ("subscription_events", "id"),
    "contacts": ("entries", "uuid"), "customer_notes": ("entries", "uuid"), "opportunities": ("entries", "uuid"),
    "tasks": ("entries", "task_uuid"),
}
SENTINEL = {"__ab_no_cursor_state_message": True}


def three_pages(stream: str) -> list[tuple[Any, HttpResponse]]:
    """A list of six records in three pages: no cursor, then c1, then c2 (the last page, has_more false)."""
    key, id_field = LISTS[stream]
    records = [{id_field: f"{stream}_{n}"} for n in range(6)]
    return [
        (request(stream, per_page="200"), page(key, records[0:2], "c1", True)),
        (request(stream, per_page="200", cursor="c1"), page(key, records[2:4], "c2", True)),
        (request(stream, per_page="200", cursor="c2"), page(key, records[4:6], "c3", False)),
    ]


def read_list(stream: str, exchanges: list[tuple[Any, HttpResponse]], state: dict[str, Any] | None = None,
              config: dict[str, Any] = CONFIG) -> EntrypointOutput:
    """A full-refresh read of `stream` (from `state`), ChartMogul answering each of `exchanges` once and nothing else."""
    catalog = CatalogBuilder().with_stream(stream, SyncMode.full_refresh).build()
    states = StateBuilder().with_stream_state(stream, state).build() if state is not None else None
    with HttpMocker() as http:
        for expected_request, response in exchanges:
            http.get(expected_request, response)
        output = read(SourceChartmogul(catalog=catalog, config=config, state=states), config, catalog, states)
    for expected_request, _ in exchanges:
        http.assert_number_of_calls(expected_request, 1)
    return output


def sequence(output: EntrypointOutput, id_field: str) -> list[Any]:
    """Records (their ids) and states, in the order they were emitted."""
    return [message.record.data[id_field] if message.type == Type.RECORD else message.state.stream.stream_state.__dict__
            for message in output.records_and_state_messages]


@pytest.mark.parametrize("stream", LISTS)
def test_each_list_emits_the_cursor_of_the_page_in_flight_then_the_sentinel(stream: str) -> None:
    """A state comes right before the first record of the page it names: every record before it is out already, and
    every record after it is of that page or a later one."""
    output = read_list(stream, three_pages(stream))
    assert [error.trace.error.message for error in output.errors] == []
    name = f"{stream}_"
    assert sequence(output, LISTS[stream][1]) == [
        f"{name}0", f"{name}1", {"cursor": "c1"}, f"{name}2", f"{name}3", {"cursor": "c2"}, f"{name}4", f"{name}5", SENTINEL,
    ]


@pytest.mark.parametrize("stream", LISTS)
def test_a_list_resumed_from_its_state_starts_at_the_saved_cursor(stream: str) -> None:
    """The first request sends the saved cursor: only the page in flight and the rest are read."""
    output = read_list(stream, three_pages(stream)[1:], state={"cursor": "c1"})
    assert [error.trace.error.message for error in output.errors] == []
    name = f"{stream}_"
    assert sequence(output, LISTS[stream][1]) == [{"cursor": "c1"}, f"{name}2", f"{name}3", {"cursor": "c2"}, f"{name}4", f"{name}5", SENTINEL]


def test_the_sentinel_state_reads_the_list_whole() -> None:
    output = read_list("invoices", three_pages("invoices"), state=SENTINEL)
    assert [m.record.data["uuid"] for m in output.records] == [f"invoices_{n}" for n in range(6)]
    assert output.most_recent_state.stream_state.__dict__ == SENTINEL


def test_a_list_that_fails_leaves_the_cursor_of_the_page_that_failed_not_the_sentinel() -> None:
    """The CDK emits a final state after a failure too: it must resume at the page that failed, read not once."""
    exchanges = three_pages("contacts")
    exchanges[2] = (exchanges[2][0], HttpResponse('{"code":400,"message":"Bad","param":null}', 400))
    output = read_list("contacts", exchanges)
    assert output.errors[0].trace.error.message == "HTTP Status Code: 400. Error: Bad request. Please check your request parameters."
    assert sequence(output, "uuid") == ["contacts_0", "contacts_1", {"cursor": "c1"}, "contacts_2", "contacts_3", {"cursor": "c2"}]


def test_a_saved_cursor_chartmogul_refuses_reads_the_list_again_from_its_start() -> None:
    """ChartMogul documents no lifetime for a cursor; one it refuses loses nothing and fails no attempt."""
    refused = (request("tasks", per_page="200", cursor="gone"), HttpResponse('{"code":400,"message":"Parameter \\"cursor\\" is invalid","param":"cursor"}', 400))
    output = read_list("tasks", [refused, *three_pages("tasks")], state={"cursor": "gone"})
    assert [error.trace.error.message for error in output.errors] == []
    assert sequence(output, "task_uuid") == [
        "tasks_0", "tasks_1", {"cursor": "c1"}, "tasks_2", "tasks_3", {"cursor": "c2"}, "tasks_4", "tasks_5", SENTINEL,
    ]
    assert output.is_in_logs("ChartMogul refused the saved cursor of tasks .*: reading the list again from its start.")


def test_discover_marks_the_checkpointing_lists_resumable_and_the_single_responses_not() -> None:
    catalog = discover(SourceChartmogul(config=CONFIG), CONFIG).catalog.catalog
    resumable = {s.name: s.is_resumable for s in catalog.streams}
    assert {name: resumable[name] for name in [*LISTS, "plan_group_plans"]} == {name: True for name in [*LISTS, "plan_group_plans"]}
    single_responses = ["account", "data_sources", "customer_count", "key_metrics", "mrr_metrics"]
    assert {name: resumable[name] for name in single_responses} == {name: False for name in single_responses}
    declared = {name: stream.get("$parameters", {}).get("resumable") for name, stream in written_manifest()["definitions"]["streams"].items()}
    assert {name: how for name, how in declared.items() if how} == {**{name: "page" for name in LISTS}, "plan_group_plans": "parent_prefix"}


GROUPS = ["plg_1", "plg_2", "plg_3"]


def plan_groups_and_their_plans(*groups_read: str) -> list[tuple[Any, HttpResponse]]:
    """The plan groups (one page), and the plans (two each) of the groups named."""
    return [(request("plan_groups", per_page="200"), page("plan_groups", [{"uuid": g} for g in GROUPS], "c1", False))] + [
        (request(f"plan_groups/{group}/plans", per_page="200"), page("plans", [{"uuid": f"{group}_pl_{n}"} for n in range(2)], "c", False))
        for group in groups_read
    ]


def test_plan_group_plans_checkpoints_the_plan_groups_read_in_list_order_then_the_sentinel() -> None:
    """A state names the last of the leading plan groups whose plans are all out (one worker: a fixed order)."""
    output = read_list("plan_group_plans", plan_groups_and_their_plans(*GROUPS), config={**CONFIG, "concurrency_level": 1})
    assert [error.trace.error.message for error in output.errors] == []
    assert sequence(output, "uuid") == [
        "plg_1_pl_0", "plg_1_pl_1", {"plan_group_uuid": "plg_1"}, "plg_2_pl_0", "plg_2_pl_1", {"plan_group_uuid": "plg_2"},
        "plg_3_pl_0", "plg_3_pl_1", SENTINEL,
    ]


def test_plan_group_plans_read_in_parallel_emits_each_state_after_the_plans_of_the_plan_groups_it_names() -> None:
    output = read_list("plan_group_plans", plan_groups_and_their_plans(*GROUPS))
    assert [error.trace.error.message for error in output.errors] == []
    emitted = sequence(output, "uuid")
    assert sorted(r for r in emitted if isinstance(r, str)) == [f"{g}_pl_{n}" for g in GROUPS for n in range(2)]
    assert emitted[-1] == SENTINEL and SENTINEL not in emitted[:-1]
    for position, state in enumerate(emitted[:-1]):
        if isinstance(state, dict):
            done = GROUPS[: GROUPS.index(state["plan_group_uuid"]) + 1]
            assert {r for r in emitted[:position] if isinstance(r, str)} >= {f"{g}_pl_{n}" for g in done for n in range(2)}


def test_plan_group_plans_resumed_from_its_state_skips_the_plan_groups_read_before() -> None:
    output = read_list("plan_group_plans", plan_groups_and_their_plans("plg_2", "plg_3"), state={"plan_group_uuid": "plg_1"})
    assert [error.trace.error.message for error in output.errors] == []
    assert sorted(m.record.data["uuid"] for m in output.records) == ["plg_2_pl_0", "plg_2_pl_1", "plg_3_pl_0", "plg_3_pl_1"]
    assert output.most_recent_state.stream_state.__dict__ == SENTINEL


def test_plan_group_plans_reads_every_plan_group_when_the_saved_one_is_no_longer_listed() -> None:
    output = read_list("plan_group_plans", plan_groups_and_their_plans(*GROUPS), state={"plan_group_uuid": "plg_deleted"})
    assert [error.trace.error.message for error in output.errors] == []
    assert len(output.records) == 6


def test_plan_group_plans_that_fails_leaves_the_plan_groups_read_before_the_failed_one() -> None:
    exchanges = plan_groups_and_their_plans(*GROUPS)
    exchanges[2] = (exchanges[2][0], HttpResponse('{"code":400,"message":"Bad","param":null}', 400))
    output = read_list("plan_group_plans", exchanges)
    assert output.errors
    assert output.most_recent_state.stream_state.__dict__ == {"plan_group_uuid": "plg_1"}
