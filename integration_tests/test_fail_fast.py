"""One cause, one error: a refused key stops every request of the sync at once, and an endpoint that keeps failing
fails its stream within a bounded time, each with one trace saying what to fix and a closing summary typed as its
cause (the connector as users run it, against the emulator)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from chartmogul_emulator.stream_truth import ground_truth
from integration_tests.connector_cli import as_multiset
from integration_tests.reliability import CONFIG, run_without_leaking

SUMMARY = "During the sync, the following streams did not sync successfully: "
KEY_REJECTED = ("ChartMogul rejected the API key (HTTP 401). Check that api_key holds a current key, or create a"
                " read-only one in ChartMogul under Settings > Your Account > API Keys.")
ACCOUNT_REFUSED = ("ChartMogul refused API access for this account (HTTP 403): the trial has expired or the plan does"
                   " not include API access. Check the account's subscription in ChartMogul.")
WORKERS = 12  # the connector's default concurrency_level: the requests that can be in flight when the refusal comes
STREAMS = ["activities", "customers", "customer_subscriptions", "invoices"]


def errors_of(run: Any) -> list[tuple[str | None, str, str]]:
    return [((error.get("stream_descriptor") or {}).get("name"), error["failure_type"], error["message"]) for error in run.errors()]


@pytest.mark.parametrize("refusal", ["401", "403"])  # a wrong key; an account refused
def test_a_refused_key_stops_every_stream_at_once_with_one_trace_saying_what_to_fix(
    refusal: str, chartmogul_emulator_factory: Any, tmp_path: Path
) -> None:
    # activities from 2017 are some 240 windows: each asked its own requests and failed on its own before
    emulator = chartmogul_emulator_factory(seed=21, customers=600, activities=3_000, api_key=CONFIG["api_key"])
    config = {**CONFIG, "base_url": emulator.url, "start_date": "2017-01-25T00:00:00Z"}
    if refusal == "401":
        config["api_key"] = "sk_live_Revoked+key/0b7e41c9"
    else:
        for path in ("/v1/activities", "/v1/customers", "/v1/invoices"):
            emulator.script_fault(path, "403", times=10_000)

    run = run_without_leaking("read", tmp_path, config, streams=STREAMS)

    sentence = KEY_REJECTED if refusal == "401" else ACCOUNT_REFUSED
    (cause, summary) = errors_of(run)
    assert cause[1:] == ("config_error", sentence) and cause[0] in STREAMS
    assert summary[:2] == (None, "config_error")
    assert summary[2].startswith(SUMMARY) and summary[2].endswith(f". {sentence}")
    assert set(summary[2][len(SUMMARY):-len(sentence) - 2].split(", ")) == set(STREAMS)
    assert run.returncode == 1 and run.stderr == ""
    assert [m["log"]["message"][:60] for m in run.of_type("LOG") if "Traceback" in m["log"]["message"]] == []  # nothing to debug
    statuses = emulator.stats()["statuses"]
    assert set(statuses) == {refusal} and statuses[refusal] <= WORKERS  # only what was in flight when it came
    assert emulator.stats()["requests_after_refusal"] == 0
    assert run.of_type("RECORD") == []


def test_a_key_revoked_in_the_middle_of_a_sync_stops_every_stream_and_keeps_the_records_read(
    chartmogul_emulator_factory: Any, tmp_path: Path
) -> None:
    emulator = chartmogul_emulator_factory(seed=23, customers=600, activities=3_000, api_key=CONFIG["api_key"])
    emulator.script_fault("/v1/activities", "401", nth=30, times=10_000)  # revoked at the 30th activities request
    config = {**CONFIG, "base_url": emulator.url, "start_date": "2017-01-25T00:00:00Z"}

    run = run_without_leaking("read", tmp_path, config, streams=STREAMS)

    (cause, summary) = errors_of(run)
    assert cause == ("activities", "config_error", KEY_REJECTED)
    assert summary[:2] == (None, "config_error") and summary[2].endswith(f". {KEY_REJECTED}")
    assert emulator.stats()["statuses"]["401"] <= WORKERS and emulator.stats()["requests_after_refusal"] == 0
    assert run.returncode == 1 and len(run.of_type("RECORD")) > 0  # what was read before is delivered



def test_a_retry_waiting_when_the_key_is_refused_is_not_sent(chartmogul_emulator_factory: Any, tmp_path: Path) -> None:
    emulator = chartmogul_emulator_factory(seed=25, customers=100, activities=200, api_key=CONFIG["api_key"])
    emulator.script_fault("/v1/customers", "500", times=1)  # its retry waits about 3 s
    emulator.script_fault("/v1/plans", "401", times=1_000)  # meanwhile the key is refused

    run = run_without_leaking("read", tmp_path, {**CONFIG, "base_url": emulator.url}, streams=["customers", "plans"])

    assert emulator.policies.paths_served() == {"/v1/customers": 1, "/v1/plans": 1}
    assert [cause[:2] for cause in errors_of(run)] == [("plans", "config_error"), (None, "config_error")]
    assert run.returncode == 1


# Each fan-out stream, with more parents than workers: customers' subscriptions (500s) with 12 workers, plan groups'
# plans (connections reset) with 2 (13 plan groups). A partition's retries take about 67 s; those started before the
# third failure in a row run theirs out, the rest are not asked. It took 203 s for 30 customers before, an hour for 500.
@pytest.mark.parametrize("stream,parents,child,fault,failure,options", [
    ("customer_subscriptions", "/v1/customers", "subscriptions", "500", "(HTTP 5xx) through 5 retries",
     {"customers": 60, "activities": 300}),
    ("plan_group_plans", "/v1/plan_groups", "plans", "reset", "through its retries (ConnectionError: ",
     {"customers": 2_000, "activities": 2_000, "concurrency_level": 2}),
])
def test_an_endpoint_that_keeps_failing_fails_its_fan_out_stream_in_bounded_time_and_the_other_streams_go_on(
    stream: str, parents: str, child: str, fault: str, failure: str, options: dict[str, int],
    chartmogul_emulator_factory: Any, tmp_path: Path
) -> None:
    workers = options.pop("concurrency_level", WORKERS)
    emulator = chartmogul_emulator_factory(seed=22, api_key=CONFIG["api_key"], **options)
    uuids = [parent["uuid"] for parent in emulator.truth(parents)]
    for uuid in uuids:
        emulator.script_fault(f"{parents}/{uuid}/{child}", fault, times=100)
    config = {**CONFIG, "base_url": emulator.url, "concurrency_level": workers}

    began = time.monotonic()
    run = run_without_leaking("read", tmp_path, config, streams=[stream, "plans"], timeout=600)
    took = time.monotonic() - began

    (cause, summary) = errors_of(run)
    assert cause[:2] == (stream, "transient_error")
    assert f"/{child} {failure}" in cause[2]
    assert summary[:2] == (None, "transient_error")  # the platform retries it, as the cause is passing
    assert summary[2] == f"{SUMMARY}{stream}. {cause[2]}"
    assert as_multiset(run.records("plans")) == as_multiset(ground_truth(emulator, "plans", config))
    asked = sum(n for path, n in emulator.policies.paths_served(f"{parents}/").items() if path.endswith(f"/{child}"))
    started = max(workers, 3) + workers  # at most the partitions under way when the third failed, and those before
    assert len(uuids) > started and asked <= 6 * started and took < 240
    assert run.returncode == 1


def test_a_host_that_does_not_answer_fails_as_transient_naming_base_url(tmp_path: Path) -> None:
    run = run_without_leaking("read", tmp_path, {**CONFIG, "base_url": "http://127.0.0.1:9"}, streams=["plans"])  # closed

    (cause, summary) = errors_of(run)
    assert cause[:2] == ("plans", "transient_error")
    assert cause[2].startswith("ChartMogul did not answer at http://127.0.0.1:9/v1/plans through its retries (ConnectionError: ")
    assert cause[2].endswith('[Errno 111] Connection refused"))). Retry the sync later; if it persists, check base_url'
                             " (ChartMogul's is https://api.chartmogul.com) and the network.")
    assert summary == (None, "transient_error", f"{SUMMARY}plans. {cause[2]}")
    assert run.returncode == 1


def test_a_windowed_stream_whose_endpoint_keeps_failing_fails_in_bounded_time(chartmogul_emulator_factory: Any, tmp_path: Path) -> None:
    emulator = chartmogul_emulator_factory(seed=24, customers=300, activities=3_000, api_key=CONFIG["api_key"])
    emulator.script_fault("/v1/activities", "503", times=100_000)  # every window of 2017-2025, about 210 of them
    config = {**CONFIG, "base_url": emulator.url, "start_date": "2017-01-25T00:00:00Z"}

    began = time.monotonic()
    run = run_without_leaking("read", tmp_path, config, streams=["activities", "plans"], timeout=600)
    took = time.monotonic() - began

    (cause, summary) = errors_of(run)
    assert cause[:2] == ("activities", "transient_error") and "/v1/activities (HTTP 5xx) through 5 retries" in cause[2]
    assert summary[:2] == (None, "transient_error") and summary[2] == f"{SUMMARY}activities. {cause[2]}"
    assert as_multiset(run.records("plans")) == as_multiset(ground_truth(emulator, "plans", config))
    assert emulator.stats()["requests"]["/v1/activities"]["503"] < 6 * 30 and took < 240  # not 6 x 210 requests
    assert run.returncode == 1
