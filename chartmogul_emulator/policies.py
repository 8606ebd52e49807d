"""Request policies of the emulator: auth, rate limit, connection cap, latency, faults, and counters.

Everything random here is decided by a hash of (seed, method, full URL, how many times that exact URL
was requested before), never by a shared RNG stream, so a run is reproducible whatever the thread
interleaving and a retried request gets a fresh draw. Time comes from ``clock`` (``time.monotonic`` unless a test
gives its own), so the limits can be tested without the wall clock.
"""

from __future__ import annotations

import base64
import hashlib
import math
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Callable

from .api import PAGINATION_FAULTS

FAULT_KINDS = ("500", "502", "503", "504", "reset", "truncated", "html200", "slow", "429")
# scripted only, never drawn at random: a key revoked (from the nth request of a path on), the account refused
# (documented: trial expired)
REFUSAL_KINDS = ("401", "403")
SCRIPTABLE_KINDS = FAULT_KINDS + REFUSAL_KINDS + PAGINATION_FAULTS
# A request that arrives this long after the first 401 or 403 was answered was sent after the client could know of it:
# it was not already on its way (stats: requests_after_refusal).
REFUSAL_IN_FLIGHT_S = 0.5
STALL_PERIOD_S = 1.3  # not a whole second: stalls fall at every phase of the client's seconds
ARRIVAL_SHAPES = ("uniform", "lognormal")
LOGNORMAL_SIGMA = 1.0  # ASSUMED: the spread of a heavy-tailed way (p90 3.6x the median, p99 10x), capped
# ChartMogul's second limit (reference, section 3): compute time consumed per minute per account, answered with 429.
# Neither the budget nor what a request costs is published: the units below are ASSUMED, to model its shape only. A
# single object is the cheapest; a list page costs more (it reads up to 200 records); a metric series more still (it
# is computed over the whole account); a page asked by the deprecated `page` offset twice its list page (the
# reference: offset paging "is more likely to hit the consumption-based limit").
COMPUTE_WINDOW_S = 60.0
COMPUTE_UNITS_SINGLE, COMPUTE_UNITS_LIST_PAGE, COMPUTE_UNITS_METRICS = 1, 2, 5
SINGLE_OBJECT_TEMPLATES = ("/v1/ping", "/v1/account", "/v1/data_sources")
UNAUTHORIZED_BODY = {"code": 401, "message": "No valid API key provided", "param": None}
# No 403 was ever recorded: the shape of the recorded 401 and 429 bodies, with a message of our own (UNCONFIRMED).
FORBIDDEN_BODY = {"code": 403, "message": "Forbidden", "param": None}
RATE_LIMITED_BODY = {"code": 429, "message": "Your request rate has exceeded our rate limit.", "param": None}
TOO_MANY_CONNECTIONS_BODY = {"code": 503, "message": "Too many parallel connections. Please retry later.",
                             "param": None}
SERVER_ERROR_TEXT = {"500": "500 Internal Server Error", "502": "502 Bad Gateway",
                     "503": "503 Service Unavailable", "504": "504 Gateway Timeout Error"}
MAINTENANCE_PAGE = ("<!DOCTYPE html><html><head><title>ChartMogul is down for maintenance</title></head>"
                    "<body><h1>We'll be back soon</h1><p>ChartMogul is undergoing scheduled maintenance."
                    "</p></body></html>")


def fate(seed: int, *parts: object) -> int:
    """A 64-bit number fixed by its inputs."""
    return int.from_bytes(hashlib.blake2b(repr((seed,) + parts).encode(), digest_size=8).digest(), "big")


def compute_units(template: str, params: dict[str, str]) -> int:
    """What one request costs against the compute budget (ASSUMED units, see COMPUTE_UNITS_*)."""
    if template.startswith("/v1/metrics/"):
        return COMPUTE_UNITS_METRICS
    if template in SINGLE_OBJECT_TEMPLATES or template.endswith("{uuid}"):
        return COMPUTE_UNITS_SINGLE
    return COMPUTE_UNITS_LIST_PAGE * (2 if "page" in params else 1)


@dataclass(frozen=True)
class ArrivalDelay:
    """How long a request spends on the way to ChartMogul before it is counted against the limits, which count
    arrivals, not departures: ``uniform`` from 0 to ``ms``, or ``lognormal`` with median ``ms`` (sigma
    LOGNORMAL_SIGMA) capped at ``cap_ms``. Written ``uniform:120`` or ``lognormal:30:500`` on the command line."""
    shape: str
    ms: float
    cap_ms: float | None = None

    def __post_init__(self) -> None:
        if self.shape not in ARRIVAL_SHAPES:
            raise ValueError(f"unknown arrival delay shape {self.shape!r}; known: {', '.join(ARRIVAL_SHAPES)}")
        if self.ms < 0 or (self.cap_ms is not None and self.cap_ms < self.ms):
            raise ValueError("an arrival delay needs ms >= 0 and, if given, cap_ms >= ms")
        if self.shape == "lognormal" and self.cap_ms is None:
            raise ValueError("a lognormal arrival delay needs a cap: lognormal:MEDIAN_MS:CAP_MS")

    @classmethod
    def parse(cls, text: str) -> "ArrivalDelay":
        shape, _, numbers = text.partition(":")
        values = [float(v) for v in numbers.split(":") if v]
        if not 1 <= len(values) <= 2:
            raise ValueError(f"arrival delay {text!r}: use uniform:MAX_MS or lognormal:MEDIAN_MS:CAP_MS")
        return cls(shape, *values)

    def seconds(self, draw: int) -> float:
        """The delay fixed by a 64-bit ``draw`` (``fate``)."""
        quantile = ((draw >> 11) + 0.5) / 2**53  # in (0, 1): the normal's inverse is finite
        if self.shape == "uniform":
            return quantile * self.ms / 1000
        assert self.cap_ms is not None
        return min(self.cap_ms, self.ms * math.exp(LOGNORMAL_SIGMA * NormalDist().inv_cdf(quantile))) / 1000


@dataclass
class ScriptedFault:
    """Serve ``kind`` to the ``nth`` .. ``nth + times - 1`` requests (1-based) whose path is ``path``."""
    path: str
    kind: str
    nth: int = 1
    times: int = 1

    def __post_init__(self) -> None:
        if self.kind not in SCRIPTABLE_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; known: {', '.join(SCRIPTABLE_KINDS)}")
        if self.nth < 1 or self.times < 1:
            raise ValueError("nth and times must be >= 1")


@dataclass(frozen=True)
class Decision:
    """What to do with one admitted, authorised request."""
    fault: str | None
    variant: int      # 0/1: JSON or text 5xx body, with or without Retry-After on a fault 429
    delay: float      # seconds of latency before answering


class SlidingWindow:
    """Timestamps of events within the last second."""

    def __init__(self) -> None:
        self.events: deque[float] = deque()

    def add(self, now: float) -> int:
        self.trim(now)
        self.events.append(now)
        return len(self.events)

    def trim(self, now: float) -> int:
        while self.events and self.events[0] <= now - 1.0:
            self.events.popleft()
        return len(self.events)


class ComputeWindow:
    """Compute units spent within the last COMPUTE_WINDOW_S seconds."""

    def __init__(self) -> None:
        self.charges: deque[tuple[float, int]] = deque()
        self.spent = 0

    def charge(self, now: float, units: int) -> None:
        self.charges.append((now, units))
        self.spent += units

    def trim(self, now: float) -> int:
        while self.charges and self.charges[0][0] <= now - COMPUTE_WINDOW_S:
            self.spent -= self.charges.popleft()[1]
        return self.spent


class Policies:
    """Shared, thread-safe state of the limits, faults and statistics of one emulator."""

    def __init__(self, *, seed: int, api_key: str, rate_limit: int | None, max_connections: int | None,
                 latency_ms: float, jitter_ms: float, fault_rate: float, fault_kinds: tuple[str, ...],
                 retry_after: int | None, slow_seconds: float, stall_ms: float = 0.0,
                 arrival_delay: ArrivalDelay | None = None, compute_budget: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        unknown = set(fault_kinds) - set(SCRIPTABLE_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}")
        self.seed = seed
        self.api_key = api_key
        self.rate_limit = rate_limit or None
        self.max_connections = max_connections or None
        self.latency_ms, self.jitter_ms = latency_ms, jitter_ms
        self.fault_rate, self.fault_kinds = fault_rate, tuple(fault_kinds)
        self.retry_after, self.slow_seconds = retry_after, slow_seconds
        self.stall_ms = stall_ms
        self.arrival_delay = arrival_delay
        self.compute_budget = compute_budget or None
        self.clock = clock
        self.started = clock()
        self.lock = threading.Lock()
        self.scripts: list[ScriptedFault] = []
        self.url_seen: dict[str, int] = defaultdict(int)
        self.url_arrivals: dict[str, int] = defaultdict(int)
        self.computed = ComputeWindow()
        self.path_seen: dict[str, int] = defaultdict(int)
        self.admitted = SlidingWindow()
        self.in_flight = 0
        self.reset_stats()

    # ------------------------------------------------------------------ admission

    def authorized(self, header: str | None) -> bool:
        """HTTP Basic with the key as user name and an empty or identical password."""
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return user == self.api_key and password in ("", self.api_key)

    def stall(self) -> float:
        """Seconds a request spends on its way before the limits count it. The way stalls for ``stall_ms`` every
        ``STALL_PERIOD_S`` (a congested link, a paused process): what arrives during a stall is let through at its end,
        all at once, as ChartMogul's clock would see a burst of late requests."""
        if not self.stall_ms:
            return 0.0
        phase = (self.clock() - self.started) % STALL_PERIOD_S
        return max(0.0, self.stall_ms / 1000 - phase)

    def on_the_way(self, method: str, url: str) -> float:
        """Seconds this request spends on its way to ChartMogul (``arrival_delay``), drawn from (seed, method, url,
        how many times the url arrived before): the same run draws the same delays whatever the interleaving."""
        if self.arrival_delay is None:
            return 0.0
        with self.lock:
            nth = self.url_arrivals[url]
            self.url_arrivals[url] += 1
        return self.arrival_delay.seconds(fate(self.seed, "arrival", method, url, nth))

    def enter(self, template: str = "", params: dict[str, str] | None = None) -> int | None:
        """Count an arriving request; None if admitted, else the status (503 or 429) to refuse it with.

        Only admitted requests fill the rate window and spend compute (``compute_units`` of ``template`` and
        ``params``), so a client that backs off is served again once the windows have room.
        """
        now = self.clock()
        with self.lock:
            self.total += 1
            if self.first_refusal_at is not None and now - self.first_refusal_at > REFUSAL_IN_FLIGHT_S:
                self.after_refusal += 1
            self.peak_per_second = max(self.peak_per_second, self.arrivals.add(now))
            if self.rate_limit is not None:
                self.last_arrivals.append(now)
                if len(self.last_arrivals) > self.rate_limit:
                    self.shortest_span = min(self.shortest_span, now - self.last_arrivals[0])
            if self.max_connections is not None and self.in_flight >= self.max_connections:
                self.refused_503 += 1
                return 503
            if self.rate_limit is not None and self.admitted.trim(now) >= self.rate_limit:
                self.refused_429 += 1
                return 429
            if self.compute_budget is not None:
                if self.computed.trim(now) >= self.compute_budget:
                    self.refused_compute_429 += 1
                    return 429
                # ASSUMED: charged on admission; ChartMogul can only know the time spent once it has answered
                self.computed.charge(now, compute_units(template, params or {}))
            self.admitted.add(now)
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            return None

    def leave(self) -> None:
        with self.lock:
            self.in_flight -= 1

    # ------------------------------------------------------------------ faults and latency

    def script(self, fault: ScriptedFault) -> None:
        with self.lock:
            self.scripts.append(fault)

    def clear_scripts(self) -> None:
        with self.lock:
            self.scripts.clear()

    def decide(self, method: str, url: str, path: str) -> Decision:
        with self.lock:
            self.path_seen[path] += 1
            self.served_paths[path] += 1
            nth_on_path = self.path_seen[path]
            seen_before = self.url_seen[url]
            self.url_seen[url] += 1
            scripted = next((s.kind for s in self.scripts
                             if s.path == path and s.nth <= nth_on_path < s.nth + s.times), None)
        draw = fate(self.seed, method, url, seen_before)
        fault = scripted
        if fault is None and self.fault_rate > 0 and self.fault_kinds:
            if (draw & 0xFFFFFFFF) / 2**32 < self.fault_rate:
                fault = self.fault_kinds[(draw >> 32) % len(self.fault_kinds)]
        jitter = ((draw >> 16) & 0xFFFF) / 0xFFFF * self.jitter_ms
        return Decision(fault, (draw >> 63) & 1, (self.latency_ms + jitter) / 1000)

    def record(self, template: str, status: int | str, fault: str | None = None, url: str = "") -> None:
        """Count one answered request to ``url`` under its path template and status (or ``reset``)."""
        with self.lock:
            self.by_endpoint[template][str(status)] += 1
            if status in (429, 503):
                self.refused_urls.add(url)
            elif status == 200:
                self.refused_urls.discard(url)
            if status in (401, 403) and self.first_refusal_at is None:
                self.first_refusal_at = self.clock()
            if fault is not None:
                self.faults[fault] += 1

    # ------------------------------------------------------------------ statistics

    def paths_served(self, prefix: str = "") -> dict[str, int]:
        """Admitted requests per path (without the query) since the last reset, for the paths starting with
        ``prefix``: which customers' subscriptions a sync asked for, say."""
        with self.lock:
            return {path: n for path, n in sorted(self.served_paths.items()) if path.startswith(prefix)}

    def reset_stats(self) -> None:
        with self.lock:
            self.total = 0
            self.arrivals = SlidingWindow()
            self.peak_per_second = 0
            # the last rate_limit + 1 arrivals: the shortest time they took is how close a second came to the limit
            self.last_arrivals: deque[float] = deque(maxlen=(self.rate_limit or 0) + 1)
            self.shortest_span = float("inf")
            self.served_paths: dict[str, int] = defaultdict(int)  # admitted requests per path, query left out
            self.peak_in_flight = self.in_flight
            self.refused_429 = 0
            self.refused_compute_429 = 0
            self.refused_503 = 0
            self.refused_urls: set[str] = set()  # answered 429 or 503 last: not (yet) asked again and served
            self.by_endpoint: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
            self.faults: dict[str, int] = defaultdict(int)
            self.first_refusal_at: float | None = None
            self.after_refusal = 0

    def stats(self) -> dict[str, Any]:
        """Counters since the last reset. ``statuses`` counts every status served (faults included);
        ``rate_limited_429`` / ``connection_limited_503`` count refusals by the limits alone.
        ``shortest_span_over_rate_limit_s``: the shortest time in which rate_limit + 1 requests arrived (under 1 s, a
        second held more than the limit; a paced client's margin against its delays on the way), None before that
        many arrived or without a rate limit. ``requests_after_refusal``: the requests that arrived more than
        REFUSAL_IN_FLIGHT_S after the first 401 or 403 was answered. ``compute_limited_429``: refusals by the
        compute budget. ``refused_not_served_again``: the URLs whose last answer was a 429 or a 503 (of the limits or
        a fault), sorted: a client that retries every refusal until served leaves none."""
        with self.lock:
            statuses: dict[str, int] = defaultdict(int)
            for counts in self.by_endpoint.values():
                for status, n in counts.items():
                    statuses[status] += n
            return {
                "total_requests": self.total,
                "requests": {template: dict(counts) for template, counts in sorted(self.by_endpoint.items())},
                "statuses": dict(sorted(statuses.items())),
                "peak_requests_per_second": self.peak_per_second,
                "peak_in_flight": self.peak_in_flight,
                "rate_limited_429": self.refused_429,
                "compute_limited_429": self.refused_compute_429,
                "connection_limited_503": self.refused_503,
                "refused_not_served_again": sorted(self.refused_urls),
                "shortest_span_over_rate_limit_s": (round(self.shortest_span, 4)
                                                    if self.shortest_span != float("inf") else None),
                "faults": dict(sorted(self.faults.items())),
                "requests_after_refusal": self.after_refusal,
            }
