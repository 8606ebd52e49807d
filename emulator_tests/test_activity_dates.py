"""``start-date`` / ``end-date`` on /v1/activities under each ``date_boundaries`` mode, ties included."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Callable

import pytest

from chartmogul_emulator import Emulator

from .client import Client

IN_RANGE: dict[str, Callable[[float, float, float], bool]] = {
    "inclusive": lambda start, t, end: start <= t <= end,
    "exclusive": lambda start, t, end: start < t < end,
    "half-open": lambda start, t, end: start <= t < end,
}


def epoch(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()


def zulu(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def everything(chartmogul_emulator: Emulator) -> list[dict]:
    return chartmogul_emulator.truth("/v1/activities")


@pytest.fixture(scope="module")
def tied_bounds(everything: list[dict]) -> tuple[float, float]:
    """Two instants each shared by several activities, the first at midnight when possible."""
    ties = sorted(epoch(d) for d, n in Counter(a["date"] for a in everything).items() if n >= 2)
    midnight_ties = [t for t in ties if t % 86400 == 0]
    start = (midnight_ties or ties)[len(midnight_ties or ties) // 4]
    end = [t for t in ties if t > start][-1]
    return start, end


def test_the_account_has_shared_timestamps_and_boundary_instants(everything: list[dict]) -> None:
    dates = [a["date"] for a in everything]
    assert max(Counter(dates).values()) >= 3
    assert any(d.endswith("T00:00:00+00:00") for d in dates)
    assert any(d[5:].startswith("01-01T00:00:00") or d[5:].startswith("12-31T23:59:59") for d in dates)
    assert dates == sorted(dates, key=epoch)


@pytest.mark.parametrize("mode", sorted(IN_RANGE))
def test_date_window_matches_boundary_mode(chartmogul_emulator_factory, everything: list[dict],
                                           tied_bounds: tuple[float, float], mode: str) -> None:
    start, end = tied_bounds
    emulator = chartmogul_emulator_factory(seed=7, customers=200, activities=2000, date_boundaries=mode)
    expected = [a for a in everything if IN_RANGE[mode](start, epoch(a["date"]), end)]
    params = {"start-date": zulu(start), "end-date": zulu(end)}
    walked, _ = Client(emulator.url).walk("/v1/activities", params, per_page=50)
    assert walked == expected == emulator.truth("/v1/activities", params)
    on_start = sum(epoch(a["date"]) == start for a in walked)
    on_end = sum(epoch(a["date"]) == end for a in walked)
    ties_at_start = sum(epoch(a["date"]) == start for a in everything)
    ties_at_end = sum(epoch(a["date"]) == end for a in everything)
    assert (on_start, on_end) == {"inclusive": (ties_at_start, ties_at_end), "exclusive": (0, 0),
                                  "half-open": (ties_at_start, 0)}[mode]


@pytest.mark.parametrize("spelling", ["{}T00:00:00Z", "{}T00:00:00+00:00", "{}T00:00:00.000Z", "{}"])
def test_date_spellings_are_equivalent(chartmogul_emulator: Emulator, everything: list[dict], spelling: str) -> None:
    params = {"start-date": spelling.format("2022-03-01"), "end-date": spelling.format("2023-03-01")}
    start, end = epoch("2022-03-01T00:00:00+00:00"), epoch("2023-03-01T00:00:00+00:00")
    expected = [a for a in everything if start <= epoch(a["date"]) <= end]
    assert Client(chartmogul_emulator.url).walk("/v1/activities", params)[0] == expected and expected


def test_unencoded_plus_offset_in_query_is_understood(chartmogul_emulator: Emulator) -> None:
    client = Client(chartmogul_emulator.url)
    raw = client.get("/v1/activities?start-date=2022-03-01T00:00:00+00:00").json()
    encoded = client.get("/v1/activities", {"start-date": "2022-03-01T00:00:00+00:00"}).json()
    assert raw == encoded


def test_type_filter_combines_with_dates(chartmogul_emulator: Emulator, everything: list[dict]) -> None:
    params = {"type": "churn", "start-date": "2021-01-01T00:00:00Z", "end-date": "2024-12-31T23:59:59Z"}
    expected = [a for a in everything if a["type"] == "churn"
                and epoch("2021-01-01T00:00:00+00:00") <= epoch(a["date"]) <= epoch("2024-12-31T23:59:59+00:00")]
    assert Client(chartmogul_emulator.url).walk("/v1/activities", params, per_page=20)[0] == expected and expected


def test_bad_date_is_a_400_naming_the_parameter(chartmogul_emulator: Emulator) -> None:
    reply = Client(chartmogul_emulator.url).get("/v1/activities", {"end-date": "yesterday"})
    assert reply.status == 400 and reply.json() == {"code": 400, "message": 'Parameter "end-date" is invalid',
                                                    "param": "end-date"}
