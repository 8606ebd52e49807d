"""The bench's own reckoning (scripts/bench.py): which subscription requests a daily sync owes, how the records of a
killed and a resumed attempt add up against a clean sync, and the network mode's targets."""

from __future__ import annotations

import importlib.util
import json
from types import SimpleNamespace
import sys
from collections import Counter
from pathlib import Path

import pytest

BENCH_PATH = Path(__file__).resolve().parents[1] / "scripts" / "bench.py"
spec = importlib.util.spec_from_file_location("bench", BENCH_PATH)
bench = importlib.util.module_from_spec(spec)
sys.modules["bench"] = bench  # dataclasses look their module up by name
spec.loader.exec_module(bench)

DAY = 20_424  # 2025-12-02, in UTC days since 1970-01-01


@pytest.mark.parametrize("previous_day, today, state_days, due", [
    (None, DAY, None, set(range(7))),  # no sync completed before: every customer
    (DAY, DAY, 7, set()),  # a second sync the same day: only the activities' customers
    (DAY - 1, DAY, 7, {DAY % 7}),  # the next day: that day's bucket
    (DAY - 3, DAY, 7, {(DAY - 2) % 7, (DAY - 1) % 7, DAY % 7}),  # three days missed: their three buckets
    (DAY - 7, DAY, 7, set(range(7))),  # a week or more: every bucket
    (DAY - 1, DAY, 5, set(range(7))),  # the setting changed since: every bucket
])
def test_the_due_buckets_are_those_of_the_days_since_the_last_completed_sync(previous_day, today, state_days, due) -> None:
    assert bench.due_buckets(previous_day, today, 7, state_days) == due


def test_a_customers_bucket_is_the_crc32_of_its_uuid_modulo_the_days() -> None:
    uuid = "cus_00000000-0000-0000-0000-000000000001"
    assert bench.rotation_bucket(uuid, 7) == 395_477_333 % 7  # the CRC-32 of its UTF-8 bytes (IEEE, as zlib's)
    assert {bench.rotation_bucket(f"cus_{n}", 7) for n in range(100)} == set(range(7))


def test_each_reread_is_put_down_to_a_new_activity_first_then_the_rotating_share_else_unexplained() -> None:
    requests = {"a": 1, "b": 2, "c": 1, "d": 1}  # b was asked twice (a retry)
    split = bench.classify_rereads(requests, new_activities={"a", "b", "x"}, rotating={"b", "c", "y"})
    assert split == {"new activities": {"a": 1, "b": 2}, "rotating share": {"c": 1}, "unexplained": {"d": 1}}


def test_the_union_of_attempts_counts_what_is_missing_unexpected_and_duplicated() -> None:
    clean = Counter({b"r1": 1, b"r2": 1, b"r3": 1, b"twice": 2})
    killed = Counter({b"r1": 1, b"r2": 1})
    resumed = Counter({b"r2": 1, b"twice": 1, b"new": 1})  # r2 read again, r3 never, "twice" once only
    assert bench.union_of_attempts(clean, [killed, resumed]) == {"missing": 2, "unexpected": 1, "duplicated": 1}
    assert bench.union_of_attempts(clean, [clean]) == {"missing": 0, "unexpected": 0, "duplicated": 0}


def test_the_output_of_a_killed_sync_gives_its_records_and_each_streams_last_state(tmp_path: Path) -> None:
    def state(stream: str, value: dict) -> dict:
        return {"type": "STATE", "state": {"type": "STREAM", "sourceStats": {"recordCount": 1.0}, "stream": {
            "stream_descriptor": {"name": stream}, "stream_state": value}}}

    def record(stream: str, data: dict) -> dict:
        return {"type": "RECORD", "record": {"stream": stream, "data": data, "emitted_at": 1}}

    lines = [record("tasks", {"task_uuid": "t1"}), state("tasks", {"cursor": "c1"}), record("tasks", {"task_uuid": "t2"}),
             state("tasks", {"cursor": "c2"}), state("plans", {"__ab_no_cursor_state_message": True}),
             record("plans", {"uuid": "p1"})]
    path = tmp_path / "stdout"
    path.write_bytes(b"".join(json.dumps(line).encode() + b"\n" for line in lines) + b'{"type": "RECORD", "rec')

    output = bench.read_output(path, keep=("tasks",))

    assert output.kept == {"tasks": [{"task_uuid": "t1"}, {"task_uuid": "t2"}]}  # the line cut short left out
    assert {stream: sum(c.values()) for stream, c in output.records.items()} == {"tasks": 2, "plans": 1}
    assert output.states == {
        "tasks": {"type": "STREAM", "stream": {"stream_descriptor": {"name": "tasks"}, "stream_state": {"cursor": "c2"}}},
        "plans": {"type": "STREAM", "stream": {"stream_descriptor": {"name": "plans"},
                                               "stream_state": {"__ab_no_cursor_state_message": True}}}}


@pytest.mark.parametrize("wall_s, refused_429, refused_503, met", [
    (115.0, 4, 0, (True, True)),  # 1.15x the floor; 4 of 4,000 requests: 0.1%
    (115.1, 4, 0, (False, True)),
    (100.0, 5, 0, (True, False)),
    (100.0, 0, 1, (True, False)),  # over a network too, a 503 is a connection the pace should not have opened
])
def test_over_a_network_the_pace_may_get_429s_up_to_a_thousandth_of_its_requests(wall_s, refused_429, refused_503, met) -> None:
    run = SimpleNamespace(rate_limited_429=refused_429, connection_limited_503=refused_503, requests_total=4_000)
    targets = bench.verdicts(bench.MODES["full20k-network"], {"wall_s": wall_s, "requests_total": 4_000}, None, [run])
    assert [target for target, _, _ in targets] == [
        "wall <= 1.15x the rate-limit floor", "429s at most 0.1% of the requests and zero 503 in every run (ours)"]
    assert tuple(verdict for _, verdict, _ in targets) == met
