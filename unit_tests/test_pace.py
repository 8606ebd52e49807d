"""The pace: the manifest's api_budget, built by the CDK's own factory, on a fake clock. What it grants in any window
is fixed by the configuration, not by how fast the machine runs; the 429s it avoids on a network are make bench
figures (--mode full20k-network)."""

from __future__ import annotations

import bisect
from typing import Any, Callable

import pyrate_limiter.clocks
import pytest
import requests
from airbyte_cdk.sources.declarative.models.declarative_component_schema import HTTPAPIBudget as HTTPAPIBudgetModel
from airbyte_cdk.sources.declarative.parsers.model_to_component_factory import ModelToComponentFactory
from airbyte_cdk.sources.streams.call_rate import CallRateLimitHit, HttpAPIBudget

from source_chartmogul.source import written_manifest

REQUEST = requests.Request("GET", "https://api.chartmogul.com/v1/customers").prepare()


class FakeTime:
    """Whole milliseconds, as pyrate_limiter counts them."""

    def __init__(self) -> None:
        self.ms = 1_000_000_000

    def __call__(self) -> float:
        return (self.ms + 0.5) / 1000  # int(1000 * t) is self.ms, not one less by rounding


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    # MovingWindowCallRatePolicy takes no clock: its Limiter keeps pyrate_limiter's default TimeClock, whose now() reads
    # pyrate_limiter.clocks.time (the CDK's update after a 429 builds a TimeClock too).
    clock = FakeTime()
    monkeypatch.setattr(pyrate_limiter.clocks, "time", clock)
    return clock


def budget(config: dict[str, Any]) -> HttpAPIBudget:
    return ModelToComponentFactory().create_component(
        model_type=HTTPAPIBudgetModel, component_definition=written_manifest()["api_budget"], config=config)


def granted_now(api_budget: HttpAPIBudget) -> int:
    """How many requests the budget lets go at this instant, asked one after the other as the workers would."""
    granted = 0
    while True:
        try:
            api_budget.acquire_call(REQUEST, block=False)
        except CallRateLimitHit:
            return granted
        granted += 1


def greedy_grants(api_budget: HttpAPIBudget, clock: FakeTime, seconds: float) -> list[int]:
    """The millisecond of each grant when workers ask at every millisecond for ``seconds``."""
    start, grants = clock.ms, []
    for ms in range(int(seconds * 1000)):
        clock.ms = start + ms
        grants += [ms] * granted_now(api_budget)
    return grants


def most_in_any(grants: list[int], window_ms: int) -> int:
    return max(bisect.bisect_left(grants, at + window_ms) - i for i, at in enumerate(grants))


def test_the_budget_lets_40_requests_go_in_any_1_07_s_and_2_in_any_50_ms(fake_time: FakeTime) -> None:
    grants = greedy_grants(budget({}), fake_time, seconds=10.7)
    assert most_in_any(grants, 1070) == 40 and most_in_any(grants, 50) == 2
    assert grants[:4] == [0, 0, 51, 51] and grants[40:42] == [1071, 1071]  # the 41st waits for the first to leave
    assert len(grants) == 400  # 37.4 a second sustained: 40 every 1.07 s


def test_max_requests_per_second_sets_both_rates(fake_time: FakeTime) -> None:
    grants = greedy_grants(budget({"max_requests_per_second": 20}), fake_time, seconds=3.21)
    assert most_in_any(grants, 1070) == 20 and most_in_any(grants, 50) == 1
    assert len(grants) == 60


def test_a_refused_request_is_told_to_wait_until_the_window_has_room(fake_time: FakeTime) -> None:
    api_budget = budget({})
    for _ in range(20):
        assert granted_now(api_budget) == 2
        fake_time.ms += 51
    fake_time.ms += 10  # 40 granted in the last 1,030 ms
    with pytest.raises(CallRateLimitHit) as refused:
        api_budget.acquire_call(REQUEST, block=False)
    assert refused.value.time_to_wait.total_seconds() == pytest.approx(1.07 - 1.03, abs=0.002)


def test_a_429_pauses_the_budget_only_until_its_burst_window_has_room(fake_time: FakeTime) -> None:
    """What the CDK's budget does on a 429 (status_codes_for_ratelimit_hit): it fills the emptiest of its windows at
    that instant (MovingWindowCallRatePolicy.update), here the 50 ms one, so every worker waits at most 50 ms. The
    retry itself waits the error handler's backoff."""
    api_budget = budget({})
    rate_limited = requests.Response()
    rate_limited.status_code = 429
    api_budget.update_from_response(REQUEST, rate_limited)
    assert granted_now(api_budget) == 0
    fake_time.ms += 51
    assert granted_now(api_budget) == 2
