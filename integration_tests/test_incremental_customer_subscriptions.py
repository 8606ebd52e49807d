"""customer_subscriptions against the emulator: a full sync, a simulated day, then an incremental sync from the state
asks exactly the customers with activities new since the state (dated after its date, or on a day of its lookback
whose digest changed: back-dated) and the due rotation buckets, and delivers their subscriptions exactly; a state
without digest reads the whole lookback's; full refresh reads every customer; a sync killed or cancelled in the middle of its fan-out
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

from integration_tests.connector_cli import STREAMS, as_multiset, connector_command
from chartmogul_emulator.stream_truth import ground_truth
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


def lookback_before(state_date: str) -> str:
    return (dt.datetime.fromisoformat(state_date.replace("Z", "+00:00")) - dt.timedelta(days=LOOKBACK_DAYS)).isoformat()[:19]


def window_customers(emulator: Any, state_date: str) -> set[str]:
    """Customers with an activity dated at or after the state's date minus the lookback (a state without digest)."""
    since = lookback_before(state_date)
    return {a["customer-uuid"] for a in emulator.truth("/v1/activities") if a["date"][:19] >= since}


def new_customers(emulator: Any, state: dict[str, Any]) -> set[str]:
    """Customers with an activity new since the state: dated after its date, or on a day of the lookback before it on
    which the activities are no longer those the state's digest counted (written out independently of the connector)."""
    date = state["parent_state"]["activities"]["date"][:19]
    since = lookback_before(date)
    was = state["activity_days"]["days"]
    now = digest(emulator, since, date)["days"]
    changed = {day for day in set(was) | set(now) if was.get(day) != now.get(day)}
    return {a["customer-uuid"] for a in emulator.truth("/v1/activities")
            if a["date"][:19] > date or (a["date"][:19] >= since and a["date"][:10] in changed)}


def digest(emulator: Any, since: str, until: str) -> dict[str, Any]:
    """The state's digest of the activities dated since..until: per UTC day, their count and the xor of the crc32 of
    their uuids."""
    days: dict[str, list[int]] = {}
    for a in emulator.truth("/v1/activities"):
        if since[:19] <= a["date"][:19] <= until[:19]:
            day = days.setdefault(a["date"][:10], [0, 0])
            day[0] += 1
            day[1] ^= zlib.crc32(a["uuid"].encode("utf-8"))
    return {"lookback_days": LOOKBACK_DAYS, "days": dict(sorted(days.items()))}


def completed_state(emulator: Any, day: int) -> dict[str, Any]:
    """The state a completed incremental sync writes on `day`: the newest activity date, and the digest of the
    lookback before it."""
    newest = max(a["date"] for a in emulator.truth("/v1/activities"))[:19]
    return {"parent_state": {"activities": {"date": newest + "Z"}}, "rotation_day": day, "rotation_days": 7,
            "activity_days": digest(emulator, lookback_before(newest), newest)}


def compact(state: Any) -> int:
    return len(json.dumps(state, separators=(",", ":")))


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
    state = run.final_state(STREAM)
    assert state == completed_state(emulator, day)
    assert 20 <= len(state["activity_days"]["days"]) <= 31 and compact(state) < 1300  # ~31 days of ~10 activities
    return state


@pytest.mark.parametrize("days_since", [1, 3], ids=["the next day", "three days later"])
def test_a_daily_sync_reads_the_customers_of_the_new_activities_and_the_due_buckets_only(
    days_since: int, emulator: Any, first_sync: dict[str, Any], tmp_path: Path
) -> None:
    day = emulator.simulate_day(share=0.05, seed=1)
    state = {**first_sync, "rotation_day": first_sync["rotation_day"] - days_since}  # as if it had run days ago
    run = sync(tmp_path, emulator, "incremental", state)

    customers = [c["uuid"] for c in emulator.truth("/v1/customers")]
    buckets = due(state["rotation_day"], today(), 7)
    rotating = {c for c in customers if zlib.crc32(c.encode("utf-8")) % 7 in buckets}
    with_activities = new_customers(emulator, state)
    assert with_activities == set(day["customers_with_activities"])  # no day of the lookback changed
    assert len(with_activities) < len(window_customers(emulator, state["parent_state"]["activities"]["date"])) / 3
    expected = with_activities | rotating
    asked = asked_customers(emulator)
    assert sorted(asked) == sorted(expected)  # each once, nothing else
    assert len(asked) < len(customers) * (days_since + 2) / 7 + len(with_activities)
    assert set(other_requests(emulator)) == {"/v1/customers", "/v1/activities"}
    assert other_requests(emulator)["/v1/customers"] == 2  # 300 customers: two pages
    assert as_multiset(run.records(STREAM)) == as_multiset(subscriptions_of(emulator, expected))
    renewed_and_due = set(day["customers_renewed_only"]) & rotating
    assert renewed_and_due, "the day renewed no customer of the due buckets: choose another seed"
    final = run.final_state(STREAM)
    assert final == completed_state(emulator, today())
    assert compact(final) < 1300
    assert [m for m in run.of_type("STATE")][-1]["state"]["stream"]["stream_state"] == final


def test_a_sync_the_same_day_reads_only_the_customers_of_the_new_activities(emulator: Any, first_sync: dict[str, Any], tmp_path: Path) -> None:
    day = emulator.simulate_day(share=0.05, seed=2)
    sync(tmp_path, emulator, "incremental", first_sync)
    assert sorted(asked_customers(emulator)) == sorted(day["customers_with_activities"])


def test_an_activity_back_dated_into_the_lookback_is_caught_the_same_day_with_the_customers_of_its_day(
    emulator: Any, first_sync: dict[str, Any], tmp_path: Path
) -> None:
    """Two of the day's changes are dated 10 days back, before the state's date: their days' digests changed, so the
    sync reads the customers of every activity of those days, beside those of the activities after the state's date."""
    day = emulator.simulate_day(share=0.05, seed=9, backdated=2, backdated_days=10)
    run = sync(tmp_path, emulator, "incremental", first_sync)
    date = first_sync["parent_state"]["activities"]["date"][:19]
    activities = emulator.truth("/v1/activities")
    backdated = [a for a in activities if a["uuid"] in day["activities"] and a["date"][:19] <= date]
    assert len(backdated) == 2
    days = {a["date"][:10] for a in backdated}
    expected = {a["customer-uuid"] for a in activities if a["date"][:19] > date or a["date"][:10] in days}
    assert expected == new_customers(emulator, first_sync)
    assert {a["customer-uuid"] for a in backdated} <= expected and set(day["customers_with_activities"]) <= expected
    assert sorted(asked_customers(emulator)) == sorted(expected)  # a state of today: no bucket due
    assert as_multiset(run.records(STREAM)) == as_multiset(subscriptions_of(emulator, expected))
    assert run.final_state(STREAM) == completed_state(emulator, today())  # the back-dated activities counted


def test_a_state_without_digest_reads_every_customer_with_an_activity_in_the_lookback(
    emulator: Any, first_sync: dict[str, Any], tmp_path: Path
) -> None:
    """The shape written before the digest: nothing is missed, the whole lookback is read as it was."""
    emulator.simulate_day(share=0.05, seed=2)
    older = {key: value for key, value in first_sync.items() if key != "activity_days"}
    run = sync(tmp_path, emulator, "incremental", older)
    assert sorted(asked_customers(emulator)) == sorted(window_customers(emulator, first_sync["parent_state"]["activities"]["date"]))
    assert run.final_state(STREAM) == completed_state(emulator, today())


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
                                              "rotation_day": resume["rotation_day"], "rotation_days": 7,
                                              "activity_days": resume["activity_days"]}


# ---------------------------------------------------------------------------------------------- unusable states
FIX = "reset the customer_subscriptions stream to read every customer again."
COMPLETED = {"parent_state": {"activities": {"date": "2025-12-31T00:00:00Z"}}, "rotation_day": 20000, "rotation_days": 7}
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
    "a digest of another shape": ({**COMPLETED, "activity_days": {"2025-12-01": [1, 2]}},
                                  f"The saved state of customer_subscriptions has activity_days of another shape, not {{\"lookback_days\": <days>, \"days\": {{\"yyyy-mm-dd\": [count, xor], ...}}}}: {FIX}"),
    "a digest of a day that is not one": ({**COMPLETED, "activity_days": {"lookback_days": 30, "days": {"2025-13-01": [1, 2]}}},
                                          f"The saved state of customer_subscriptions has activity_days.days key '2025-13-01', not a UTC day (yyyy-mm-dd): {FIX}"),
    "a digest entry of another shape": ({**COMPLETED, "activity_days": {"lookback_days": 30, "days": {"2025-12-01": [1, -2]}}},
                                        f"The saved state of customer_subscriptions has activity_days.days['2025-12-01'] [1, -2], not [count, xor of the crc32 of its activities' uuids]: {FIX}"),
    "a digest with a lookback as text": ({**COMPLETED, "activity_days": {"lookback_days": "30", "days": {}}},
                                         f"The saved state of customer_subscriptions has activity_days.lookback_days '30', not a whole number of days: {FIX}"),
    "a resume with a digest not an object": ({"resume": {"position": 3, "customer_uuid": "cus_1", "activity_days": []}},
                                             f"The saved state of customer_subscriptions has resume.activity_days of another shape, not {{\"lookback_days\": <days>, \"days\": {{\"yyyy-mm-dd\": [count, xor], ...}}}}: {FIX}"),
    "a digest alone": ({"activity_days": {"lookback_days": 30, "days": {}}},
                       f"The saved state of customer_subscriptions has activity_days without the rest of parent_state, rotation_day and rotation_days: {FIX}"),
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
    emulator.simulate_day(share=0.02, seed=8, backdated=3)
    state = {**first, "rotation_day": first["rotation_day"] - 4}
    customers = [c["uuid"] for c in emulator.truth("/v1/customers")]
    buckets = due(state["rotation_day"], today(), 7)
    selected = new_customers(emulator, first) | {c for c in customers if zlib.crc32(c.encode("utf-8")) % 7 in buckets}
    written = completed_state(emulator, today())  # what the interrupted attempt read: the digest its resume writes
    emulator.reset_stats()
    args = connector_command("read", tmp_path, config, streams=[STREAM], catalog=catalog("incremental"), state=state)
    before, checkpoint = interrupted_read(args, tmp_path, 2, signal.SIGKILL, 0.0, STREAM)
    resume = checkpoint["resume"]
    assert {k: v for k, v in checkpoint.items() if k != "resume"} == state  # the selection's inputs, kept
    assert resume["rotation_day"] == today() and resume["customer_uuid"] == customers[resume["position"]]
    assert resume["activity_days"] == written["activity_days"] and compact(checkpoint) < 2 * 1300
    read_first = set(asked_customers(emulator))
    assert read_first <= selected
    emulator.simulate_day(share=0.02, seed=10, backdated=3)  # between the attempts: new and back-dated activities
    emulator.reset_stats()

    after = sync(tmp_path, emulator, "incremental", checkpoint, concurrency_level=CONCURRENCY)

    selected_before = selected
    # The resumed attempt selects from the state it continues, as the activities are now (those of the second day
    # too), after the prefix; and writes the interrupted attempt's date and digest, so that the next sync finds the
    # second day's activities, back-dated ones included, new.
    selected = new_customers(emulator, first) | {c for c in customers if zlib.crc32(c.encode("utf-8")) % 7 in buckets}
    customers = [c["uuid"] for c in emulator.truth("/v1/customers")]
    rest = [c for c in customers[resume["position"] + 1:] if c in selected]
    assert sorted(asked_customers(emulator)) == sorted(rest)
    assert len(read_first & set(rest)) <= CHECKPOINT_EVERY + 2 * CONCURRENCY
    assert as_multiset(after.records(STREAM)) == as_multiset(subscriptions_of(emulator, set(rest)))
    first_selection = {r["customer_uuid"] for r in before} | set(rest)
    assert {r["customer_uuid"] for r in subscriptions_of(emulator, selected_before)} <= first_selection
    final = after.final_state(STREAM)
    assert final == {**written, "rotation_day": resume["rotation_day"]}
    emulator.reset_stats()
    sync(tmp_path, emulator, "incremental", final, concurrency_level=CONCURRENCY)
    second_day = emulator.days()[-1]
    assert set(second_day["customers_with_activities"]) <= set(asked_customers(emulator)) == new_customers(emulator, final)
