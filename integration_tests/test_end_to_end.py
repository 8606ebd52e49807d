"""A full sync through the real CLI against the emulator: every stream delivers exactly its ground truth."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Iterator

import pytest

from chartmogul_emulator import Emulator
from integration_tests.connector_cli import SEGMENTED, STREAM_NAMES, Run, as_multiset
from chartmogul_emulator.stream_truth import ground_truth
from integration_tests.reliability import run_without_leaking

KEY = "sk_e2e+3f8a61c0/d95b4e27"
WRONG_KEY = "sk_wrong+0000/000000000000"
# This emulator enforces no rate limit, so the connector's pacing is lifted (test_incremental_and_limits keeps it).
CONFIG = {
    "api_key": KEY, "start_date": "2019-01-01T00:00:00Z", "end_date": "2025-12-31T23:59:59Z", "interval": "month",
    "max_requests_per_second": 1000, **SEGMENTED,
}
CUSTOMERS, ACTIVITIES = 1_500, 12_000  # 8 pages of customers, 60 of activities


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(seed=5, customers=CUSTOMERS, activities=ACTIVITIES, api_key=KEY) as started:
        yield started


@pytest.fixture(scope="module")
def full_sync(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run_without_leaking("read", tmp_path_factory.mktemp("sync"), {**CONFIG, "base_url": emulator.url})


def test_full_sync_succeeds_with_no_error(full_sync: Run) -> None:
    assert full_sync.returncode == 0, full_sync.stderr[-2000:]
    assert full_sync.errors() == []


@pytest.mark.parametrize("stream", STREAM_NAMES)
def test_stream_delivers_exactly_the_ground_truth(stream: str, full_sync: Run, emulator: Emulator) -> None:
    emitted, expected = as_multiset(full_sync.records(stream)), as_multiset(ground_truth(emulator, stream, CONFIG))
    missing, unexpected = expected - emitted, emitted - expected
    assert not missing and not unexpected, f"{stream}: {len(missing)} missing, {len(unexpected)} unexpected or duplicated"
    assert expected, f"{stream}: the emulator's account has no {stream}, so this comparison proves nothing"


def test_the_account_is_large_enough_to_span_many_pages(full_sync: Run) -> None:
    assert len(full_sync.records("customers")) == CUSTOMERS
    assert len(full_sync.records("activities")) == ACTIVITIES


def asked_windows(start: str, end: str, days: int = 15) -> list[tuple[str, str]]:
    """What the connector asks for activities: 15-day windows from start_date, each one second wider on both sides."""
    first, last = datetime.fromisoformat(start[:19]), datetime.fromisoformat(end[:19])
    windows = []
    while first <= last:
        following = first + timedelta(days=days)
        windows.append(((first - timedelta(seconds=1)).isoformat(), min(following, last + timedelta(seconds=1)).isoformat()))
        first = following
    return windows


def test_lists_are_read_in_cursor_pages_of_200_and_activities_in_one_chain_per_window(full_sync: Run, emulator: Emulator) -> None:
    requests = emulator.stats()["requests"]
    dates = [a["date"][:19] for a in emulator.truth("/v1/activities")]  # the emulator's boundaries are inclusive
    windows = asked_windows(CONFIG["start_date"], CONFIG["end_date"])
    pages = [max(1, -(-sum(1 for d in dates if asked_from <= d <= asked_to) // 200)) for asked_from, asked_to in windows]
    assert len(pages) == 171  # 2019-01-01 to 2025-12-31 in 15-day steps
    assert sum(requests["/v1/activities"].values()) == sum(pages)

    # Parents are not cached (a bad page must be asked again, not replayed): customers are read by the stream and by
    # customer_subscriptions' partition router, each page once each.
    assert sum(requests["/v1/customers"].values()) == 2 * -(-CUSTOMERS // 200)


def test_customers_alone_under_debug_read_each_page_once_with_the_key_hidden(emulator: Emulator, tmp_path: Path) -> None:
    # --debug logs each request's headers: the key stays hidden in every form (run_without_leaking).
    emulator.reset_stats()
    run = run_without_leaking("read", tmp_path, {**CONFIG, "base_url": emulator.url}, streams=["customers"], debug=True)
    assert run.returncode == 0
    assert sum(emulator.stats()["requests"]["/v1/customers"].values()) == -(-CUSTOMERS // 200)


def test_a_wrong_key_fails_check_with_the_fix(emulator: Emulator, tmp_path: Path) -> None:
    # Under --debug: the wrong key's Basic credentials are logged with the request, masked.
    run = run_without_leaking("check", tmp_path, {**CONFIG, "api_key": WRONG_KEY, "base_url": emulator.url}, debug=True)
    assert run.returncode == 0
    assert [m["connectionStatus"] for m in run.of_type("CONNECTION_STATUS")] == [{
        "status": "FAILED",
        # The CDK's CheckStream prefixes the requester's message with its own words (the quotes it adds are removed).
        "message": "Stream account is not available: ChartMogul rejected the API key (HTTP 401). Check that api_key"
        " holds a current key, or create a read-only one in ChartMogul under Settings > Your Account > API Keys.",
    }]


def test_a_wrong_key_fails_read_as_one_config_error_that_names_every_stream(emulator: Emulator, tmp_path: Path) -> None:
    run = run_without_leaking("read", tmp_path, {**CONFIG, "api_key": WRONG_KEY, "base_url": emulator.url}, streams=["customers", "plans"])
    assert run.returncode != 0
    (cause,) = [e for e in run.errors() if e.get("stream_descriptor")]  # one trace: the refusal stopped the other stream
    (summary,) = [e for e in run.errors() if not e.get("stream_descriptor")]
    assert cause["failure_type"] == summary["failure_type"] == "config_error"
    assert summary["message"].split(". ")[0] in ("During the sync, the following streams did not sync successfully: customers, plans",
                                                 "During the sync, the following streams did not sync successfully: plans, customers")
    assert run.of_type("RECORD") == []
