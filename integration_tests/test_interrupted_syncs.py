"""A sync killed (SIGKILL) or cancelled (SIGTERM) mid-way and resumed from the last state it emitted loses nothing
(incremental activities; full-refresh lists, which re-read at most the page in flight); a cancelled one ends on a whole
message; an unusable state is refused with one line, never silently read as "nothing to do"."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from integration_tests.connector_cli import as_multiset, connector_command
from chartmogul_emulator.stream_truth import ground_truth
from source_chartmogul.run import INTERRUPTED
from source_chartmogul.stop_signals import MAIN_PY
from integration_tests.reliability import CONFIG, SECRET_KEY, interrupted_messages, interrupted_read, run_without_leaking

# Before the signal the reader stops reading for this long, as a destination applying backpressure does: the pipe
# fills, and the connector is blocked in the middle of writing a batch when the signal comes.
PIPE_FILLS_S = 1.0


def interrupted_sync(tmp_path: Path, config: dict[str, Any], after_states: int, signal_number: int) -> tuple[list[dict[str, Any]], Any]:
    """Read activities incrementally, interrupted (reliability.interrupted_read) after `after_states` STATE messages."""
    args = connector_command("read", tmp_path, config, streams=["activities"], sync_mode="incremental")
    return interrupted_read(args, tmp_path, after_states, signal_number, PIPE_FILLS_S, "activities")


def interrupted_then_resumed(signal_number: int, seed: int, emulator_factory: Any, tmp_path: Path) -> None:
    """A sync interrupted after 2-30 STATE messages, then a read from the last state it delivered: together, exactly
    the ground truth's activities."""
    # Latency spreads the 171 15-day windows over time, so the signal lands mid-sync with windows in flight.
    emulator = emulator_factory(seed=seed, customers=100, activities=3000, api_key=SECRET_KEY, latency_ms=20)
    config = {**CONFIG, "base_url": emulator.url}
    before, state = interrupted_sync(tmp_path, config, random.Random(seed).randint(2, 30), signal_number)
    assert state is not None

    after = run_without_leaking("read", tmp_path, config, streams=["activities"], sync_mode="incremental", state=state)

    assert after.returncode == 0 and after.errors() == []
    expected = {a["uuid"] for a in ground_truth(emulator, "activities", config)}
    delivered = {a["uuid"] for a in before + after.records("activities")}
    assert delivered == expected, f"{len(expected - delivered)} missing, {len(delivered - expected)} unexpected"


@pytest.mark.parametrize("seed", [21, 22, 23, 24])
def test_a_killed_sync_resumed_from_its_last_state_delivers_everything(seed: int, chartmogul_emulator_factory: Any, tmp_path: Path) -> None:
    interrupted_then_resumed(signal.SIGKILL, seed, chartmogul_emulator_factory, tmp_path)


@pytest.mark.parametrize("seed", [26, 27, 28, 29])
def test_a_cancelled_sync_ends_on_a_whole_message_and_resumed_from_its_last_state_delivers_everything(
    seed: int, chartmogul_emulator_factory: Any, tmp_path: Path
) -> None:
    """SIGTERM is how the Airbyte platform cancels a sync."""
    interrupted_then_resumed(signal.SIGTERM, seed, chartmogul_emulator_factory, tmp_path)


@pytest.mark.parametrize("seed", [30])
def test_ctrl_c_ends_on_a_whole_message_and_one_line_with_status_130_and_resumed_from_its_last_state_delivers_everything(
    seed: int, chartmogul_emulator_factory: Any, tmp_path: Path
) -> None:
    """SIGINT is how a user at a terminal stops a sync: no KeyboardInterrupt traceback (stderr stays empty), the last
    line says what happened and how to go on."""
    interrupted_then_resumed(signal.SIGINT, seed, chartmogul_emulator_factory, tmp_path)



def stop_signals_blocked(pid: int) -> bool:
    """Whether the process blocks SIGINT in its main thread (/proc: the SigBlk mask, bit n-1 for signal n)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigBlk:"):
            return bool(int(line.split()[1], 16) >> (signal.SIGINT - 1) & 1)
    return False


def test_ctrl_c_while_the_command_starts_ends_with_one_line_and_status_130(tmp_path: Path) -> None:
    """The CDK takes about 0.6 s to import: a Ctrl-C then (a user who sees the wrong config) ends as one later does."""
    process = subprocess.Popen(connector_command("spec", tmp_path, CONFIG)[:3], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    while not stop_signals_blocked(process.pid):
        pass
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)

    assert (process.returncode, stderr) == (130, "")
    assert [json.loads(line) for line in stdout.splitlines()][-1:] == [{"type": "LOG", "log": {"level": "WARN", "message": INTERRUPTED}}]


def test_the_command_blocks_ctrl_c_before_it_imports_the_cdk() -> None:
    """What makes the test above hold whenever the signal comes: the mask is set before the CDK's first module."""
    program = f"""
import importlib.abc, runpy, signal, sys
class Watch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "airbyte_cdk":
            print("blocked when the CDK was imported:", signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, []))
sys.meta_path.insert(0, Watch())
sys.argv = [{str(MAIN_PY)!r}, "spec"]
runpy.run_path(sys.argv[0], run_name="__main__")
"""
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.splitlines()[0] == "blocked when the CDK was imported: True"

LONG_LISTS = ["customers", "invoices", "subscription_events"]
PAGE = 200  # per_page, the API's maximum
SENTINEL = {"__ab_no_cursor_state_message": True}


def full_refresh_interrupted_then_resumed(signal_number: int, seed: int, emulator_factory: Any, tmp_path: Path) -> None:
    """A full refresh of three long lists (5,000 customers: 25, 21 and 25 pages) interrupted half-way, then a full
    refresh given the last state of each list: together, exactly the ground truth, with at most the page in flight of
    each list delivered twice; and the resumed read of a list starts at the page of its saved cursor."""
    emulator = emulator_factory(seed=seed, customers=5000, activities=5000, api_key=SECRET_KEY, latency_ms=20)
    config = {**CONFIG, "base_url": emulator.url}
    args = connector_command("read", tmp_path, config, streams=LONG_LISTS, sync_mode="full_refresh")
    before = interrupted_messages(args, tmp_path, random.Random(seed).randint(12, 30), signal_number, PIPE_FILLS_S)
    records: dict[str, list[dict[str, Any]]] = {stream: [] for stream in LONG_LISTS}
    states: dict[str, dict[str, Any]] = {}
    records_before_state: dict[str, int] = {}
    for message in before:
        if message["type"] == "RECORD":
            records[message["record"]["stream"]].append(message["record"]["data"])
        elif message["type"] == "STATE":
            stream = message["state"]["stream"]["stream_descriptor"]["name"]
            states[stream], records_before_state[stream] = message["state"]["stream"]["stream_state"], len(records[stream])
    assert SENTINEL not in states.values(), "a list ended before the signal: choose an earlier point"
    assert all(set(state) == {"cursor"} and records_before_state[stream] % PAGE == 0 for stream, state in states.items())

    after = run_without_leaking("read", tmp_path, config, streams=LONG_LISTS, states=states)

    assert after.returncode == 0 and after.errors() == []
    for stream in LONG_LISTS:
        expected = ground_truth(emulator, stream, config)
        assert after.records(stream) == expected[records_before_state.get(stream, 0):], f"{stream} did not resume at its saved page"
        assert after.final_state(stream) == SENTINEL
        union, truth = as_multiset(records[stream] + after.records(stream)), as_multiset(expected)
        assert union.keys() == truth.keys(), f"{stream}: {len(truth.keys() - union.keys())} missing, {len(union.keys() - truth.keys())} unexpected"
        assert sum((union - truth).values()) <= PAGE, f"{stream}: more than the page in flight delivered twice"


@pytest.mark.parametrize("seed", [41, 42])
def test_a_killed_full_refresh_resumed_from_the_last_states_delivers_each_list_exactly_once_but_a_page(
    seed: int, chartmogul_emulator_factory: Any, tmp_path: Path
) -> None:
    full_refresh_interrupted_then_resumed(signal.SIGKILL, seed, chartmogul_emulator_factory, tmp_path)


@pytest.mark.parametrize("seed", [43, 44])
def test_a_cancelled_full_refresh_resumed_from_the_last_states_delivers_each_list_exactly_once_but_a_page(
    seed: int, chartmogul_emulator_factory: Any, tmp_path: Path
) -> None:
    full_refresh_interrupted_then_resumed(signal.SIGTERM, seed, chartmogul_emulator_factory, tmp_path)


@pytest.mark.parametrize("stream,key,what", [("invoices", "cursor", "a ChartMogul cursor"), ("plan_group_plans", "plan_group_uuid", "a uuid")])
@pytest.mark.parametrize("value", [5, "", None, ["c1"]], ids=["a number", "empty", "null", "a list"])
def test_an_unusable_list_state_is_refused_with_one_line(stream: str, key: str, what: str, value: Any, tmp_path: Path) -> None:
    run = run_without_leaking("read", tmp_path, {**CONFIG, "base_url": "http://127.0.0.1:9"}, streams=[stream], state={key: value})
    assert run.returncode == 1
    message = f"The saved state of {stream} has {key} {value!r}, not {what} (a non-empty string): reset the {stream} stream to read it whole."
    assert [(e["message"], e["failure_type"]) for e in run.errors()] == [(message, "config_error")]


BAD_STATES = {
    "malformed": ({"date": "garbage"}, "The saved state of activities has date 'garbage', not a UTC date-time: reset the activities stream to read it again from start_date."),
    "a number": ({"date": 1717200000}, "The saved state of activities has date 1717200000, not a UTC date-time: reset the activities stream to read it again from start_date."),
    "without a UTC offset": ({"date": "2024-06-01T00:00:00"}, "The saved state of activities has date '2024-06-01T00:00:00', not a UTC date-time: reset the activities stream to read it again from start_date."),
    "a day only": ({"date": "2024-06-01"}, "The saved state of activities has date '2024-06-01', not a UTC date-time: reset the activities stream to read it again from start_date."),
    "from the future": ({"date": "2099-01-01T00:00:00Z"}, "The saved state of activities has date 2099-01-01T00:00:00Z, in the future: a sync from it would read nothing; reset the activities stream to read it again from start_date."),
}


@pytest.mark.parametrize("state,message", BAD_STATES.values(), ids=BAD_STATES.keys())
def test_an_unusable_state_is_refused_with_one_line(state: Any, message: str, chartmogul_emulator: Any, tmp_path: Path) -> None:
    run = run_without_leaking("read", tmp_path, {**CONFIG, "api_key": SECRET_KEY, "base_url": "http://127.0.0.1:9"}, streams=["activities"], sync_mode="incremental", state=state)
    assert run.returncode == 1
    assert [(e["message"], e["failure_type"]) for e in run.errors()] == [(message, "config_error")]


OTHER_DATE_FORMS = {  # each the instant 2024-06-01T00:00:00Z (or a fraction after it), which the sync resumes from
    "offset date, as records carry it": "2024-06-01T00:00:00+00:00",
    "milliseconds": "2024-06-01T00:00:00.000Z",
    "microseconds and an offset": "2024-06-01T00:00:00.123456+00:00",
    "another offset": "2024-06-01T02:00:00+02:00",
    "a negative offset without colon": "2024-05-31T19:00:00-0500",
    "a space for the T": "2024-06-01 00:00:00Z",
}


@pytest.mark.parametrize("date", OTHER_DATE_FORMS.values(), ids=OTHER_DATE_FORMS.keys())
def test_a_state_date_in_another_iso_8601_form_resumes_from_its_instant(date: str, chartmogul_emulator_factory: Any, tmp_path: Path) -> None:
    """Before, a fraction of a second failed the sync ("Something went wrong in the connector", system_error)."""
    emulator = chartmogul_emulator_factory(seed=25, customers=100, activities=1000, api_key=SECRET_KEY)
    config = {**CONFIG, "base_url": emulator.url}
    run = run_without_leaking("read", tmp_path, config, streams=["activities"], sync_mode="incremental", state={"date": date})
    assert run.returncode == 0 and run.errors() == []
    since = "2024-05-02T00:00:00"  # the instant minus the 30-day lookback
    assert {a["uuid"] for a in run.records("activities")} == {a["uuid"] for a in ground_truth(emulator, "activities", config) if a["date"][:19] >= since}


def test_a_state_in_the_older_per_connector_shape_is_read_as_each_stream_state(chartmogul_emulator_factory: Any, tmp_path: Path) -> None:
    """An object of stream states keyed by stream name, not a list of state messages: before, `Schema validation
    failed: - "activities" is not of type "object"`, on two lines."""
    emulator = chartmogul_emulator_factory(seed=25, customers=100, activities=1000, api_key=SECRET_KEY)
    config = {**CONFIG, "base_url": emulator.url}
    args = connector_command("read", tmp_path, config, streams=["activities"], sync_mode="incremental", state={"date": "x"})
    (tmp_path / "state.json").write_text(json.dumps({"activities": {"date": "2024-06-01T00:00:00.000Z"}}))
    result = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    messages = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 0 and not [m for m in messages if m["type"] == "TRACE" and m["trace"]["type"] == "ERROR"]
    records = {m["record"]["data"]["uuid"] for m in messages if m["type"] == "RECORD"}
    assert records == {a["uuid"] for a in ground_truth(emulator, "activities", config) if a["date"][:19] >= "2024-05-02T00:00:00"}


UNUSABLE_STATE_SHAPES = {
    "a stream state that is not an object": ({"activities": "2024-06-01T00:00:00Z"}, "The saved state of activities is '2024-06-01T00:00:00Z', not an object: reset the activities stream to read it again."),
    "neither a list nor an object": ("2024-06-01T00:00:00Z", "The saved state is '2024-06-01T00:00:00Z', not a list of state messages: reset the connection's streams to read them again from start_date."),
}


@pytest.mark.parametrize("state,message", UNUSABLE_STATE_SHAPES.values(), ids=UNUSABLE_STATE_SHAPES.keys())
def test_a_state_of_a_shape_no_stream_resumes_from_is_refused_with_one_line(state: Any, message: str, tmp_path: Path) -> None:
    args = connector_command("read", tmp_path, {**CONFIG, "base_url": "http://127.0.0.1:9"}, streams=["activities"], sync_mode="incremental", state={})
    (tmp_path / "state.json").write_text(json.dumps(state))
    result = subprocess.run(args, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 1
    (trace,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert (trace["trace"]["error"]["message"], trace["trace"]["error"]["failure_type"]) == (message, "config_error")
    assert "Traceback" not in result.stdout + result.stderr


def test_a_state_without_the_cursor_field_reads_from_start_date(chartmogul_emulator_factory: Any, tmp_path: Path) -> None:
    """Documented safe behaviour: another shape, without `date`, reads from start_date: nothing skipped."""
    emulator = chartmogul_emulator_factory(seed=25, customers=100, activities=1000, api_key=SECRET_KEY)
    config = {**CONFIG, "base_url": emulator.url}
    run = run_without_leaking("read", tmp_path, config, streams=["activities"], sync_mode="incremental", state={"state": {"date": "2024-06-01T00:00:00Z"}})
    assert run.returncode == 0 and run.errors() == []
    assert {a["uuid"] for a in run.records("activities")} == {a["uuid"] for a in ground_truth(emulator, "activities", config)}
