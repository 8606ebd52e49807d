"""customer_subscriptions against the emulator: a full sync, a simulated day, then an incremental sync from the state
asks exactly the customers with activities in the re-read window and the due rotation buckets, and delivers their
subscriptions exactly; full refresh reads every customer; a sync killed or cancelled in the middle of its fan-out
resumes from its last state and reads only the rest; an unusable state is refused with one line."""

from __future__ import annotations

import datetime as dt
import json
import signal
import time
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from integration_tests.connector_cli import STREAMS, as_multiset, connector_command, ground_truth
from integration_tests.reliability import CONFIG, SECRET_KEY, interrupted_read, run_without_leaking

STREAM = "customer_subscriptions"
# The emulator's history ends 2025-12-31; its simulated days follow. No end_date: the activities read up to now.
SETTINGS = {key: value for key, value in CONFIG.items() if key != "end_date"}
LOOKBACK_DAYS = 30
NO_CURSOR = {"__ab_no_cursor_state_message": True}


def catalog(sync_mode: str) -> dict[str, Any]:
    (entry,) = [e for e in STREAMS if e["stream"]["name"] == STREAM]
    stream = {**entry["stream"], "supported_sync_modes": ["full_refresh", "incremental"], "source_defined_cursor": True,
              "default_cursor_field": ["customer_uuid"]}
    cursor = {"cursor_field": ["customer_uuid"]} if sync_mode == "incremental" else {}
    return {"streams": [{"stream": stream, "sync_mode": sync_mode, "destination_sync_mode": "append", **cursor}]}


def today() -> int:
    return int(time.time() // 86400)


def asked_customers(emulator: Any) -> list[str]:
    """The customers whose subscriptions were asked since the emulator's statistics were reset, once per request."""
    return [path.split("/")[3] for path, n in emulator.policies.paths_served().items() if path.endswith("/subscriptions")
            for _ in range(n)]


def other_requests(emulator: Any) -> Counter[str]:
    return Counter({path: n for path, n in emulator.policies.paths_served().items() if not path.endswith("/subscriptions")})


def subscriptions_of(emulator: Any, customers: set[str]) -> list[dict[str, Any]]:
    return [record for record in ground_truth(emulator, STREAM, SETTINGS) if record["customer_uuid"] in customers]


def sync(tmp_path: Path, emulator: Any, sync_mode: str, state: Any = None, **settings: Any) -> Any:
    emulator.reset_stats()
    run = run_without_leaking("read", tmp_path, {**SETTINGS, "base_url": emulator.url, **settings}, streams=[STREAM],
                              catalog=catalog(sync_mode), state=state)
    assert run.returncode == 0 and run.errors() == [], run.stderr[-3000:]
    return run


def due(last_day: int, day: int, n: int) -> set[int]:
    """The rotation rule of issue 15, written out here independently of the connector's code."""
    return set(range(n)) if day - last_day >= n else {d % n for d in range(last_day + 1, day + 1)}


def window_customers(emulator: Any, state_date: str) -> set[str]:
    """Customers with an activity dated at or after the state's date minus the lookback."""
    since = (dt.datetime.fromisoformat(state_date.replace("Z", "+00:00")) - dt.timedelta(days=LOOKBACK_DAYS)).isoformat()[:19]
    return {a["customer-uuid"] for a in emulator.truth("/v1/activities") if a["date"][:19] >= since}


@pytest.fixture
def emulator(chartmogul_emulator_factory: Any) -> Any:
    return chartmogul_emulator_factory(seed=5, customers=300, activities=3000, api_key=SECRET_KEY)


@pytest.fixture
def first_sync(emulator: Any, tmp_path: Path) -> dict[str, Any]:
    """An incremental sync without state: every customer's subscriptions, exactly; its final state."""
    day = today()
    run = sync(tmp_path, emulator, "incremental")
    customers = [c["uuid"] for c in emulator.truth("/v1/customers")]
    assert sorted(asked_customers(emulator)) == sorted(customers)
    assert as_multiset(run.records(STREAM)) == as_multiset(ground_truth(emulator, STREAM, SETTINGS))
    newest = max(a["date"] for a in emulator.truth("/v1/activities"))
    state = run.final_state(STREAM)
    assert state == {"parent_state": {"activities": {"date": newest[:19] + "Z"}}, "rotation_day": day, "rotation_days": 7}
    return state


@pytest.mark.parametrize("days_since", [1, 3], ids=["the next day", "three days later"])
def test_a_daily_sync_reads_the_activity_customers_of_the_window_and_the_due_buckets_only(
    days_since: int, emulator: Any, first_sync: dict[str, Any], tmp_path: Path
) -> None:
    day = emulator.simulate_day(share=0.05, seed=1)
    state = {**first_sync, "rotation_day": first_sync["rotation_day"] - days_since}  # as if it had run days ago
    run = sync(tmp_path, emulator, "incremental", state)

    customers = [c["uuid"] for c in emulator.truth("/v1/customers")]
    buckets = due(state["rotation_day"], today(), 7)
    rotating = {c for c in customers if zlib.crc32(c.encode("utf-8")) % 7 in buckets}
    with_activities = window_customers(emulator, first_sync["parent_state"]["activities"]["date"])
    assert set(day["customers_with_activities"]) <= with_activities
    expected = with_activities | rotating
    asked = asked_customers(emulator)
    assert sorted(asked) == sorted(expected)  # each once, nothing else
    assert len(asked) < len(customers) * (days_since + 2) / 7 + len(with_activities)
    assert set(other_requests(emulator)) == {"/v1/customers", "/v1/activities"}
    assert other_requests(emulator)["/v1/customers"] == 2  # 300 customers: two pages
    assert as_multiset(run.records(STREAM)) == as_multiset(subscriptions_of(emulator, expected))
    renewed_and_due = set(day["customers_renewed_only"]) & rotating
    assert renewed_and_due, "the day renewed no customer of the due buckets: choose another seed"
    newest = max(a["date"] for a in emulator.truth("/v1/activities"))
    final = run.final_state(STREAM)
    assert final == {"parent_state": {"activities": {"date": newest[:19] + "Z"}}, "rotation_day": today(), "rotation_days": 7}
    assert len(json.dumps(final)) < 120
    assert [m for m in run.of_type("STATE")][-1]["state"]["stream"]["stream_state"] == final


def test_a_sync_the_same_day_reads_only_the_activity_customers(emulator: Any, first_sync: dict[str, Any], tmp_path: Path) -> None:
    emulator.simulate_day(share=0.05, seed=2)
    sync(tmp_path, emulator, "incremental", first_sync)
    assert sorted(asked_customers(emulator)) == sorted(window_customers(emulator, first_sync["parent_state"]["activities"]["date"]))


@pytest.mark.parametrize("days_since", [7, 30], ids=["N days", "more than N days"])
def test_a_sync_n_days_or_more_after_the_last_reads_every_customer(days_since: int, emulator: Any, first_sync: dict[str, Any], tmp_path: Path) -> None:
    emulator.simulate_day(share=0.05, seed=3)
    run = sync(tmp_path, emulator, "incremental", {**first_sync, "rotation_day": first_sync["rotation_day"] - days_since})
    assert sorted(asked_customers(emulator)) == sorted(c["uuid"] for c in emulator.truth("/v1/customers"))
    assert as_multiset(run.records(STREAM)) == as_multiset(ground_truth(emulator, STREAM, SETTINGS))


def test_a_state_written_with_another_number_of_days_reads_every_customer(emulator: Any, first_sync: dict[str, Any], tmp_path: Path) -> None:
    emulator.simulate_day(share=0.05, seed=4)
    run = sync(tmp_path, emulator, "incremental", {**first_sync, "rotation_day": first_sync["rotation_day"] - 1}, subscriptions_reread_days=3)
    assert sorted(asked_customers(emulator)) == sorted(c["uuid"] for c in emulator.truth("/v1/customers"))
    assert as_multiset(run.records(STREAM)) == as_multiset(ground_truth(emulator, STREAM, SETTINGS))
    assert run.final_state(STREAM)["rotation_days"] == 3


@pytest.mark.parametrize("state", [None, "incremental"], ids=["without state", "given an incremental state"])
def test_full_refresh_reads_every_customer_and_ends_with_the_cdks_sentinel(state: Any, emulator: Any, first_sync: dict[str, Any], tmp_path: Path) -> None:
    emulator.simulate_day(share=0.05, seed=5)
    run = sync(tmp_path, emulator, "full_refresh", first_sync if state else None)
    assert sorted(asked_customers(emulator)) == sorted(c["uuid"] for c in emulator.truth("/v1/customers"))
    assert set(other_requests(emulator)) == {"/v1/customers"}  # no activity is read
    assert as_multiset(run.records(STREAM)) == as_multiset(ground_truth(emulator, STREAM, SETTINGS))
    assert run.final_state(STREAM) == NO_CURSOR


# ---------------------------------------------------------------------------------------------- interrupted fan-out
CHECKPOINT_EVERY = 100  # subscriptions_cursor.CHECKPOINT_EVERY: what a kill can lose, beyond the partitions in flight
CONCURRENCY = 10


@pytest.mark.parametrize("sync_mode", ["full_refresh", "incremental"])
@pytest.mark.parametrize("signal_number", [signal.SIGKILL, signal.SIGTERM], ids=["killed", "cancelled"])
def test_a_fan_out_interrupted_half_way_resumes_from_its_last_state_and_reads_the_rest_only(
    sync_mode: str, signal_number: int, chartmogul_emulator_factory: Any, tmp_path: Path
) -> None:
    emulator = chartmogul_emulator_factory(seed=6, customers=1000, activities=5000, api_key=SECRET_KEY, latency_ms=30)
    config = {**SETTINGS, "base_url": emulator.url, "concurrency_level": CONCURRENCY}
    customers = [c["uuid"] for c in emulator.truth("/v1/customers")]
    # 1,000 partitions at 30 ms each, 10 at a time: 3 s; the signal comes after 300 have closed (and, for SIGTERM,
    # 1 s later), half-way.
    # SIGKILL at once; SIGTERM with the reader lagging 1 s, as a destination's backpressure.
    before, state = interrupted_read(connector_command("read", tmp_path, config, catalog=catalog(sync_mode)), tmp_path, 3,
                                     signal_number, 1.0 if signal_number == signal.SIGTERM else 0.0, STREAM)
    first = asked_customers(emulator)
    resume = state["resume"]
    assert customers[resume["position"]] == resume["customer_uuid"] and resume["position"] >= 2 * CHECKPOINT_EVERY - 1
    assert set(customers[:resume["position"] + 1]) <= set(first)  # the prefix the state names was read
    emulator.reset_stats()

    after = run_without_leaking("read", tmp_path, config, streams=[STREAM], catalog=catalog(sync_mode), state=state)

    assert after.returncode == 0 and after.errors() == []
    assert sorted(asked_customers(emulator)) == sorted(customers[resume["position"] + 1:])  # the rest, each once
    read_twice = set(first) & set(asked_customers(emulator))
    if signal_number == signal.SIGKILL:  # read twice: what closed after the last checkpoint, and what was in flight
        assert len(read_twice) <= CHECKPOINT_EVERY + 2 * CONCURRENCY
    # (Under SIGTERM the reader lagged for a second: the workers kept reading while the checkpoints waited behind
    # records in the pipe, so the partitions read in that second are read again too.)
    expected = ground_truth(emulator, STREAM, config)
    delivered = before + after.records(STREAM)
    assert set(as_multiset(delivered)) == set(as_multiset(expected))  # nothing missing, nothing unexpected
    assert sum(as_multiset(delivered).values()) - len(expected) <= sum(
        1 for r in expected if r["customer_uuid"] in read_twice)  # duplicates: only of the customers read twice
    if sync_mode == "full_refresh":
        assert after.final_state(STREAM) == NO_CURSOR
    else:
        assert after.final_state(STREAM) == {"parent_state": {"activities": {"date": resume["activities_date"]}},
                                              "rotation_day": resume["rotation_day"], "rotation_days": 7}


# ---------------------------------------------------------------------------------------------- unusable states
FIX = "reset the customer_subscriptions stream to read every customer again."
BAD_STATES = {
    "a malformed activities date": ({"parent_state": {"activities": {"date": "garbage"}}, "rotation_day": 20000, "rotation_days": 7},
                                    f"The saved state of customer_subscriptions has parent_state.activities.date 'garbage', not a UTC date-time: {FIX}"),
    "an activities date in the future": ({"parent_state": {"activities": {"date": "2099-01-01T00:00:00Z"}}},
                                         f"The saved state of customer_subscriptions has parent_state.activities.date 2099-01-01T00:00:00Z, in the future: a sync from it would read nothing; {FIX}"),
    "parent_state of another shape": ({"parent_state": {"date": "2024-01-01T00:00:00Z"}},
                                      f"The saved state of customer_subscriptions has parent_state {{'date': '2024-01-01T00:00:00Z'}}, not {{\"activities\": {{\"date\": ...}}}}: {FIX}"),
    "a rotation day as text": ({"rotation_day": "20000"}, f"The saved state of customer_subscriptions has rotation_day '20000', not a day number (UTC days since 1970-01-01): {FIX}"),
    "a rotation day in the future": ({"rotation_day": 99999}, None),
    "zero rotation days": ({"rotation_days": 0}, f"The saved state of customer_subscriptions has rotation_days 0, not a whole number of days of at least 1: {FIX}"),
    "incomplete": ({"rotation_days": 7}, f"The saved state of customer_subscriptions has rotation_days without the rest of parent_state, rotation_day and rotation_days: {FIX}"),
    "a negative resume position": ({"resume": {"position": -1, "customer_uuid": "cus_1"}}, f"The saved state of customer_subscriptions has resume.position -1, not a position in the customers list: {FIX}"),
    "a resume without its customer": ({"resume": {"position": 3}}, f"The saved state of customer_subscriptions has resume.customer_uuid None, not a customer uuid: {FIX}"),
}


@pytest.mark.parametrize("state,message", BAD_STATES.values(), ids=BAD_STATES.keys())
def test_an_unusable_state_is_refused_with_one_line(state: Any, message: Any, tmp_path: Path) -> None:
    message = message or f"The saved state of customer_subscriptions has rotation_day 99999, a day in the future (today is {today()}): {FIX}"
    run = run_without_leaking("read", tmp_path, {**SETTINGS, "base_url": "http://127.0.0.1:9"}, streams=[STREAM],
                              catalog=catalog("incremental"), state=state)
    assert run.returncode == 1
    assert [(e["message"], e["failure_type"]) for e in run.errors()] == [(message, "config_error")]


def test_a_daily_sync_interrupted_half_way_resumes_with_the_same_selection_and_completes_its_day(
    chartmogul_emulator_factory: Any, tmp_path: Path
) -> None:
    """Resumed, it reads the selected customers after the prefix only, and writes the interrupted attempt's day, so
    that a later sync still reads the buckets due after it."""
    emulator = chartmogul_emulator_factory(seed=7, customers=1000, activities=5000, api_key=SECRET_KEY, latency_ms=30)
    config = {**SETTINGS, "base_url": emulator.url, "concurrency_level": CONCURRENCY}
    first = sync(tmp_path, emulator, "incremental", None, concurrency_level=CONCURRENCY).final_state(STREAM)
    emulator.simulate_day(share=0.02, seed=8)
    state = {**first, "rotation_day": first["rotation_day"] - 4}
    customers = [c["uuid"] for c in emulator.truth("/v1/customers")]
    buckets = due(state["rotation_day"], today(), 7)
    selected = window_customers(emulator, first["parent_state"]["activities"]["date"]) | {
        c for c in customers if zlib.crc32(c.encode("utf-8")) % 7 in buckets}
    emulator.reset_stats()
    args = connector_command("read", tmp_path, config, streams=[STREAM], catalog=catalog("incremental"), state=state)
    before, checkpoint = interrupted_read(args, tmp_path, 2, signal.SIGKILL, 0.0, STREAM)
    resume = checkpoint["resume"]
    assert {k: v for k, v in checkpoint.items() if k != "resume"} == state  # the selection's inputs, kept
    assert resume["rotation_day"] == today() and resume["customer_uuid"] == customers[resume["position"]]
    read_first = set(asked_customers(emulator))
    assert read_first <= selected
    emulator.reset_stats()

    after = sync(tmp_path, emulator, "incremental", checkpoint, concurrency_level=CONCURRENCY)

    rest = [c for c in customers[resume["position"] + 1:] if c in selected]
    assert sorted(asked_customers(emulator)) == sorted(rest)
    assert len(read_first & set(rest)) <= CHECKPOINT_EVERY + 2 * CONCURRENCY
    delivered = before + after.records(STREAM)
    assert set(as_multiset(delivered)) == set(as_multiset(subscriptions_of(emulator, selected)))
    assert after.final_state(STREAM) == {"parent_state": {"activities": {"date": resume["activities_date"]}},
                                         "rotation_day": resume["rotation_day"], "rotation_days": 7}
