"""The way in: a seeded random time each request spends on its way before the limits count it (uniform or heavy
tailed), and ChartMogul's second limit, a compute budget a minute that also answers 429."""

from __future__ import annotations

import statistics
import time

import pytest

from chartmogul_emulator.__main__ import parse_args
from chartmogul_emulator.policies import ArrivalDelay, Policies, compute_units, fate

from .client import Client, FakeClock

RATE_LIMITED = {"code": 429, "message": "Your request rate has exceeded our rate limit.", "param": None}


def policies(**options) -> Policies:
    defaults = dict(seed=7, api_key="k", rate_limit=None, max_connections=None, latency_ms=0, jitter_ms=0,
                    fault_rate=0.0, fault_kinds=(), retry_after=None, slow_seconds=0.0)
    return Policies(**{**defaults, **options})


def delays(way: Policies, urls: int = 2001) -> list[float]:
    return [way.on_the_way("GET", f"/v1/customers/cus_{n}/subscriptions") for n in range(urls)]


def test_a_uniform_arrival_delay_spreads_requests_from_0_to_its_maximum() -> None:
    drawn = delays(policies(arrival_delay=ArrivalDelay("uniform", 120)))
    assert 0.0 <= min(drawn) < 0.002 and 0.118 < max(drawn) <= 0.12
    assert statistics.median(drawn) == pytest.approx(0.06, abs=0.005)


def test_a_lognormal_arrival_delay_has_its_median_and_a_long_tail_up_to_its_cap() -> None:
    drawn = delays(policies(arrival_delay=ArrivalDelay("lognormal", 30, 500)))
    assert statistics.median(drawn) == pytest.approx(0.030, rel=0.1)
    assert statistics.quantiles(drawn, n=10)[-1] == pytest.approx(0.030 * 3.6, rel=0.15)  # p90: e^1.28 the median
    assert max(drawn) == 0.5  # capped


def test_arrival_delays_are_fixed_by_the_seed_and_each_arrival_of_a_url_draws_afresh() -> None:
    way = ArrivalDelay("uniform", 120)
    first, again = policies(arrival_delay=way), policies(arrival_delay=way)
    retried = [first.on_the_way("GET", "/v1/plans") for _ in range(3)]
    assert retried == [again.on_the_way("GET", "/v1/plans") for _ in range(3)]
    assert len(set(retried)) == 3  # a retry is not delayed as its first attempt was
    assert delays(policies(arrival_delay=way, seed=8), 50) != delays(policies(arrival_delay=way), 50)
    assert policies().on_the_way("GET", "/v1/plans") == 0.0  # off by default


def test_a_request_is_held_on_its_way_before_it_is_counted(chartmogul_emulator_factory) -> None:
    emulator = chartmogul_emulator_factory(customers=20, activities=100, rate_limit=40, arrival_delay="uniform:300")
    expected = ArrivalDelay("uniform", 300).seconds(fate(7, "arrival", "GET", "/v1/plans", 0))
    started = time.monotonic()
    assert Client(emulator.url).get("/v1/plans").status == 200
    assert time.monotonic() - started >= expected  # a busy machine only adds to it
    assert emulator.stats()["total_requests"] == 1


@pytest.mark.parametrize("text,expected", [
    ("uniform:120", ArrivalDelay("uniform", 120)),
    ("lognormal:30:500", ArrivalDelay("lognormal", 30, 500)),
])
def test_the_command_line_takes_an_arrival_delay_and_a_compute_budget(text: str, expected: ArrivalDelay) -> None:
    args = parse_args(["--arrival-delay", text, "--compute-budget", "3000"])
    assert args.arrival_delay == expected and args.compute_budget == 3000


@pytest.mark.parametrize("text", ["pareto:10", "uniform", "lognormal:30", "lognormal:30:10", "uniform:-1"])
def test_an_arrival_delay_it_cannot_draw_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        ArrivalDelay.parse(text)


@pytest.mark.parametrize("template,params,units", [
    ("/v1/ping", {}, 1), ("/v1/account", {}, 1), ("/v1/data_sources", {}, 1), ("/v1/customers/{uuid}", {}, 1),
    ("/v1/customers", {"per_page": "200"}, 2), ("/v1/customers/{uuid}/subscriptions", {}, 2),
    ("/v1/customers", {"page": "3"}, 4), ("/v1/metrics/mrr", {"interval": "month"}, 5),
])
def test_a_request_costs_compute_units_by_its_kind(template: str, params: dict, units: int) -> None:
    assert compute_units(template, params) == units


def test_the_compute_budget_refuses_with_429_once_a_minute_has_spent_it() -> None:
    clock = FakeClock()
    budget = policies(compute_budget=12, rate_limit=40, clock=clock)
    assert [budget.enter("/v1/metrics/mrr") for _ in range(2)] == [None, None]  # 10 units
    assert budget.enter("/v1/customers") is None  # 12: spent, though only 3 requests this second
    assert budget.enter("/v1/ping") == 429
    clock.advance(59.9)
    assert budget.enter("/v1/ping") == 429  # the minute is a sliding one
    clock.advance(0.1)
    assert budget.enter("/v1/ping") is None
    stats = budget.stats()
    assert (stats["compute_limited_429"], stats["rate_limited_429"]) == (2, 0)


def test_the_compute_budget_answers_chartmogul_429_over_http(chartmogul_emulator_factory) -> None:
    emulator = chartmogul_emulator_factory(customers=20, activities=100, compute_budget=2, clock=FakeClock())
    client = Client(emulator.url)
    assert client.get("/v1/customers").status == 200
    reply = client.get("/v1/ping")
    assert reply.status == 429 and reply.json() == RATE_LIMITED
    assert emulator.stats()["compute_limited_429"] == 1 and emulator.stats()["statuses"] == {"200": 1, "429": 1}


def test_the_stats_name_each_url_refused_until_it_is_served_again(chartmogul_emulator_factory) -> None:
    emulator = chartmogul_emulator_factory(customers=20, activities=100)
    emulator.script_fault(path="/v1/plans", kind="429")
    emulator.script_fault(path="/v1/invoices", kind="503")
    client = Client(emulator.url)
    assert [client.get("/v1/plans").status, client.get("/v1/invoices", {"per_page": 5}).status] == [429, 503]
    assert emulator.stats()["refused_not_served_again"] == ["/v1/invoices?per_page=5", "/v1/plans"]
    assert client.get("/v1/plans").status == 200
    assert emulator.stats()["refused_not_served_again"] == ["/v1/invoices?per_page=5"]
