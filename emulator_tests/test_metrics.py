"""Metric series agree with the activities they are computed from (an independent recomputation)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import pytest

from chartmogul_emulator import Emulator

from .client import Client

MOVEMENT_KEYS = {"new_biz": "mrr-new-business", "expansion": "mrr-expansion", "contraction": "mrr-contraction",
                 "churn": "mrr-churn", "reactivation": "mrr-reactivation"}


def epoch(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()


def day_end(day: str) -> float:
    return epoch(day + "T23:59:59+00:00")


@pytest.fixture(scope="module")
def activities(chartmogul_emulator: Emulator) -> list[tuple[float, str, str, int]]:
    return [(epoch(a["date"]), a["customer-uuid"], a["type"], a["activity-mrr-movement"])
            for a in chartmogul_emulator.truth("/v1/activities")]


def customers_mrr_at(activities, moment: float) -> dict[str, int]:
    mrr: dict[str, int] = defaultdict(int)
    for when, customer, _, movement in activities:
        if when <= moment:
            mrr[customer] += movement
    return mrr


@pytest.mark.parametrize("interval,start,end,dates", [
    ("month", "2022-01-15", "2022-04-10", ["2022-01-31", "2022-02-28", "2022-03-31", "2022-04-10"]),
    ("quarter", "2021-02-01", "2021-12-01", ["2021-03-31", "2021-06-30", "2021-09-30", "2021-12-01"]),
    ("week", "2023-05-01", "2023-05-20", ["2023-05-06", "2023-05-13", "2023-05-20"]),
    ("year", "2019-06-01", "2025-12-31", [f"{y}-12-31" for y in range(2019, 2026)]),
    ("day", "2020-02-27", "2020-03-01", ["2020-02-27", "2020-02-28", "2020-02-29", "2020-03-01"]),
])
def test_mrr_series_matches_activities(chartmogul_emulator: Emulator, activities, interval: str, start: str,
                                       end: str, dates: list[str]) -> None:
    body = Client(chartmogul_emulator.url).get(
        "/v1/metrics/mrr", {"start-date": start, "end-date": end, "interval": interval}).json()
    assert [e["date"] for e in body["entries"]] == dates  # bucket ends, the last clipped to end-date
    previous_end = day_end(start) - 86400
    for entry in body["entries"]:
        moment = day_end(entry["date"])
        assert entry["mrr"] == sum(customers_mrr_at(activities, moment).values())
        for kind, key in MOVEMENT_KEYS.items():
            assert entry[key] == sum(m for when, _, k, m in activities if k == kind and previous_end < when <= moment)
        assert entry["mrr-contraction"] <= 0 and entry["mrr-churn"] <= 0
        previous_end = moment
    assert body["entries"][0]["percentage-change"] == 0.0


def test_customer_count_is_customers_with_positive_mrr_at_bucket_end(chartmogul_emulator: Emulator,
                                                                     activities) -> None:
    params = {"start-date": "2019-01-01", "end-date": "2025-12-31", "interval": "quarter"}
    body = Client(chartmogul_emulator.url).get("/v1/metrics/customer-count", params).json()
    counts = [e["customers"] for e in body["entries"]]
    expected = [sum(1 for v in customers_mrr_at(activities, day_end(e["date"])).values() if v > 0)
                for e in body["entries"]]
    assert counts == expected and max(counts) > 0


def test_metrics_all_agrees_with_single_metric_endpoints(chartmogul_emulator: Emulator) -> None:
    client = Client(chartmogul_emulator.url)
    params = {"start-date": "2021-01-01", "end-date": "2021-12-31", "interval": "month"}
    every = client.get("/v1/metrics/all", params).json()["entries"]
    for metric, key in (("mrr", "mrr"), ("arr", "arr"), ("customer-count", "customers"), ("arpa", "arpa"),
                        ("asp", "asp"), ("ltv", "ltv"), ("customer-churn-rate", "customer-churn-rate"),
                        ("mrr-churn-rate", "mrr-churn-rate")):
        single = client.get(f"/v1/metrics/{metric}", params).json()
        assert [e[key] for e in single["entries"]] == [e[key] for e in every]
        assert [e["percentage-change"] for e in single["entries"]] == [e[f"{key}-percentage-change"] for e in every]
        assert single["summary"]["current"] == every[-1][key]
    assert all(e["arr"] == 12 * e["mrr"] for e in every)
    assert all(e["arpa"] == (round(e["mrr"] / e["customers"]) if e["customers"] else 0) for e in every)


def test_missing_start_date_is_the_recorded_400(chartmogul_emulator: Emulator) -> None:
    reply = Client(chartmogul_emulator.url).get("/v1/metrics/mrr", {"end-date": "2022-01-01"})
    assert reply.status == 400
    assert reply.raw == b'{"code":400,"message":"Parameter \\"start-date\\" is missing","param":"start-date"}'


def test_unknown_interval_is_a_400(chartmogul_emulator: Emulator) -> None:
    reply = Client(chartmogul_emulator.url).get(
        "/v1/metrics/mrr", {"start-date": "2022-01-01", "end-date": "2022-02-01", "interval": "fortnight"})
    assert reply.status == 400 and reply.json()["param"] == "interval"


def test_truth_of_a_metric_is_its_entries(chartmogul_emulator: Emulator) -> None:
    params = {"start-date": "2022-01-01", "end-date": "2022-06-30", "interval": "month"}
    body = Client(chartmogul_emulator.url).get("/v1/metrics/customer-count", params).json()
    assert chartmogul_emulator.truth("/v1/metrics/customer-count", params) == body["entries"]
