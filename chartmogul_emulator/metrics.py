"""Metric series (``/v1/metrics/*``) computed from the account's activities.

Buckets: ``interval`` is ``day``, ``week`` (weeks end on Saturday: the account's week starts on Sunday),
``month``, ``quarter`` or ``year``. The first bucket is the one containing ``start-date``; each entry's
``date`` is the END of its bucket, and the last bucket is clipped to ``end-date``. A bucket covers whole
UTC days: an activity counts in the bucket whose days contain its timestamp.

Formulas (money in cents, rates in percent rounded to 2 decimals):
* ``mrr``: sum of every customer's MRR after the last activity at or before the bucket end
  (= running sum of ``activity-mrr-movement``); ``arr`` = 12 × ``mrr``.
* ``customers``: customers whose MRR is > 0 at the bucket end.
* ``mrr-new-business`` / ``-expansion`` / ``-contraction`` / ``-churn`` / ``-reactivation``: sum of the
  bucket's activities' ``activity-mrr-movement`` per type (contraction and churn are ≤ 0).
* ``arpa`` = round(mrr / customers), 0 without customers.
* ``asp`` = round(new-business MRR of the bucket / number of ``new_biz`` activities in it), 0 if none.
* ``customer-churn-rate`` = 100 × churn activities in the bucket / customers at the bucket start.
* ``mrr-churn-rate`` = 100 × (lost − regained) / MRR at the bucket start, where lost = −(churn +
  contraction) and regained = expansion + reactivation (net MRR churn, hence can be negative).
* ``ltv`` = round(arpa / (customer-churn-rate / 100)), 0 when the churn rate is 0.
* ``percentage-change`` = 100 × (value − previous entry's value) / |previous|, 0.0 for the first entry
  and when the previous value is 0.
* ``summary``: ``current`` = the last entry's value, ``previous`` = the entry before it (the same entry
  when there is only one), ``percentage-change`` between the two.

Segments: ``geo`` (comma-separated country codes), ``plans`` (comma-separated plan names or uuids) and
``filters`` (the ChartMogul Filter Language subset ``field~ANY~'a','b'``, clauses joined by `` AND ``, on the fields
``currency``, ``country`` and ``plan``) each restrict the series to the customers of the segment (``segment_of`` in
account.py); together they intersect. Any other filter is refused (400 when it is not that form, 422 for another
field), as are a country code that is not two letters (400) and a plan the account does not have (422).

Rates use the bucket as is (the real API normalises some of them to a month; not reproduced).
Default ``interval`` when omitted (unconfirmed upstream): ``month`` for asp, ltv and the churn rates
(2016 recordings show month-end points for those), ``day`` for the others.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from array import array
from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, Sequence

from .account import ACTIVE_STEP, CHURN, CONTRACTION, EXPANSION, NEW_BIZ, REACTIVATION, Account

INTERVALS = ("day", "week", "month", "quarter", "year")
METRIC_NAMES = ("all", "mrr", "arr", "arpa", "asp", "customer-count", "customer-churn-rate",
                "mrr-churn-rate", "ltv")
# the value key of each single-metric endpoint
VALUE_KEY = {"mrr": "mrr", "arr": "arr", "arpa": "arpa", "asp": "asp", "customer-count": "customers",
             "customer-churn-rate": "customer-churn-rate", "mrr-churn-rate": "mrr-churn-rate", "ltv": "ltv"}
# order of metrics inside /v1/metrics/all entries and summary, as recorded
ALL_ORDER = ("mrr", "arr", "customer-churn-rate", "mrr-churn-rate", "ltv", "customers", "asp", "arpa")
RATE_KEYS = {"customer-churn-rate", "mrr-churn-rate"}
MONTHLY_BY_DEFAULT = {"asp", "ltv", "customer-churn-rate", "mrr-churn-rate"}
MOVEMENT_KEYS = (("mrr-new-business", NEW_BIZ), ("mrr-expansion", EXPANSION), ("mrr-contraction", CONTRACTION),
                 ("mrr-churn", CHURN), ("mrr-reactivation", REACTIVATION))


class MetricsError(ValueError):
    """A bad request: rendered as a ``{code, message, param}`` body (400 unless told)."""

    def __init__(self, message: str, param: str, status: int = 400) -> None:
        super().__init__(message)
        self.param, self.status = param, status


FILTER_FIELDS = {"country": 0, "currency": 1, "plan": 2}  # positions in Account.segment_of
FILTER_CLAUSE = re.compile(r"\s*(\w+)~ANY~((?:'[^']*'|[\w.-]+)(?:\s*,\s*(?:'[^']*'|[\w.-]+))*)\s*")
FILTER_VALUE = re.compile(r"'([^']*)'|([\w.-]+)")
COUNTRY_CODE = re.compile(r"[A-Z]{2}")


@dataclass(frozen=True)
class Series:
    """Running sums over a date-ordered run of activities (the whole account's, or a segment's)."""
    dates: Sequence[int]
    cum_mrr: Sequence[int]
    cum_active: Sequence[int]
    cum_movement: Sequence[Sequence[int]]
    cum_count: Sequence[Sequence[int]]

    def up_to(self, ts: int) -> int:
        """Number of activities dated at or before ``ts``."""
        return bisect_right(self.dates, ts)


def segment_series(account: Account, customers: frozenset[int]) -> Series:
    """The running sums of the activities of ``customers`` only."""
    a = account
    ranks = [r for r in range(a.activity_count) if a.act_customer[r] in customers]
    kinds = range(len(a.cum_movement))
    return Series(
        dates=array("q", (a.act_date[r] for r in ranks)),
        cum_mrr=array("q", accumulate(a.act_movement[r] for r in ranks)),
        cum_active=array("q", accumulate(ACTIVE_STEP.get(a.act_type[r], 0) for r in ranks)),
        cum_movement=[array("q", accumulate(a.act_movement[r] if a.act_type[r] == kind else 0 for r in ranks))
                      for kind in kinds],
        cum_count=[array("q", accumulate(1 if a.act_type[r] == kind else 0 for r in ranks)) for kind in kinds])


def segment_values(params: dict[str, str], account: Account) -> list[tuple[int, set[str]]]:
    """The segment a metrics request asks for, as (position in ``segment_of``, accepted values) pairs."""
    wanted: list[tuple[int, set[str]]] = []
    if params.get("geo"):
        codes = [code.strip() for code in params["geo"].split(",")]
        if not all(COUNTRY_CODE.fullmatch(code) for code in codes):
            raise MetricsError('Parameter "geo" is invalid', "geo")
        wanted.append((FILTER_FIELDS["country"], set(codes)))
    if params.get("plans"):
        wanted.append((FILTER_FIELDS["plan"], _plan_uuids(params["plans"].split(","), account, "plans")))
    if params.get("filters"):
        for clause in params["filters"].split(" AND "):
            match = FILTER_CLAUSE.fullmatch(clause)
            if match is None:
                raise MetricsError(f"Invalid filter expression: {clause.strip()!r}", "filters")
            name = match.group(1)
            if name not in FILTER_FIELDS:
                raise MetricsError(f"Unknown filter field: {name!r}", "filters", 422)
            values = [quoted or bare for quoted, bare in FILTER_VALUE.findall(match.group(2))]
            position = FILTER_FIELDS[name]
            wanted.append((position, _plan_uuids(values, account, "filters") if name == "plan" else set(values)))
    return wanted


def _plan_uuids(names: Sequence[str], account: Account, param: str) -> set[str]:
    """Plan uuids of plan names or uuids; a plan the account does not have is refused."""
    uuids = set()
    for name in (n.strip() for n in names):
        found = [p.uuid for p in account.plans if name in (p.uuid, p.name)]
        if not found:
            raise MetricsError(f'Plan "{name}" does not exist', param, 422)
        uuids.update(found)
    return uuids


def _parse_day(params: dict[str, str], name: str) -> dt.date:
    raw = params.get(name)
    if raw is None or raw == "":
        raise MetricsError(f'Parameter "{name}" is missing', name)
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise MetricsError(f'Parameter "{name}" is invalid', name) from None


def _bucket_end(day: dt.date, interval: str) -> dt.date:
    if interval == "day":
        return day
    if interval == "week":
        return day + dt.timedelta(days=(5 - day.weekday()) % 7)  # Saturday
    if interval == "month":
        return day.replace(day=calendar.monthrange(day.year, day.month)[1])
    if interval == "quarter":
        month = (day.month - 1) // 3 * 3 + 3
        return dt.date(day.year, month, calendar.monthrange(day.year, month)[1])
    return dt.date(day.year, 12, 31)


def buckets(start: dt.date, end: dt.date, interval: str) -> list[tuple[dt.date, dt.date]]:
    """(first day, last day) of each bucket from the one containing ``start`` up to ``end`` (clipped)."""
    result = []
    day = start
    while day <= end:
        last = min(_bucket_end(day, interval), end)
        result.append((day, last))
        day = last + dt.timedelta(days=1)
    return result


def _epoch(day: dt.date) -> int:
    return calendar.timegm(day.timetuple())


@dataclass(frozen=True)
class BucketFigures:
    """Raw figures of one bucket, before they become an entry."""
    date: str
    mrr: int
    customers: int
    mrr_at_start: int
    customers_at_start: int
    movements: dict[int, int]
    new_biz_count: int
    churn_count: int


class MetricsEngine:
    """Answers metric requests from the account's running sums: O(buckets × log activities)."""

    def __init__(self, account: Account) -> None:
        self.account = account
        self.whole = Series(account.act_date, account.cum_mrr, account.cum_active, account.cum_movement,
                            account.cum_count)
        self.segments: dict[frozenset[int], Series] = {}  # customers of a segment -> its series

    def series(self, params: dict[str, str]) -> Series:
        """The series the request's geo, plans and filters select: the whole account's without them."""
        wanted = segment_values(params, self.account)
        if not wanted:
            return self.whole
        a = self.account
        customers = frozenset(c for c in range(len(a.customers))
                              if all(a.segment_of(c)[position] in values for position, values in wanted))
        if customers not in self.segments:
            self.segments[customers] = segment_series(a, customers)
        return self.segments[customers]

    @staticmethod
    def _state_after(count: int, series: Sequence[int]) -> int:
        """The running sum after the first ``count`` activities."""
        return series[count - 1] if count else 0

    def figures(self, start: dt.date, end: dt.date, interval: str, a: Series | None = None) -> list[BucketFigures]:
        a = a or self.whole
        result = []
        for first, last in buckets(start, end, interval):
            before = a.up_to(_epoch(first) - 1)
            upto = a.up_to(_epoch(last) + 86399)
            movements = {kind: self._state_after(upto, a.cum_movement[kind]) -
                         self._state_after(before, a.cum_movement[kind]) for _, kind in MOVEMENT_KEYS}
            result.append(BucketFigures(
                date=last.isoformat(), mrr=self._state_after(upto, a.cum_mrr),
                customers=self._state_after(upto, a.cum_active),
                mrr_at_start=self._state_after(before, a.cum_mrr),
                customers_at_start=self._state_after(before, a.cum_active), movements=movements,
                new_biz_count=self._state_after(upto, a.cum_count[NEW_BIZ]) -
                self._state_after(before, a.cum_count[NEW_BIZ]),
                churn_count=self._state_after(upto, a.cum_count[CHURN]) -
                self._state_after(before, a.cum_count[CHURN])))
        return result

    @staticmethod
    def values(f: BucketFigures) -> dict[str, Any]:
        """Every metric of one bucket, keyed as in ``/v1/metrics/all``."""
        arpa = round(f.mrr / f.customers) if f.customers else 0
        asp = round(f.movements[NEW_BIZ] / f.new_biz_count) if f.new_biz_count else 0
        churn_rate = round(100 * f.churn_count / f.customers_at_start, 2) if f.customers_at_start else 0.0
        lost = -(f.movements[CHURN] + f.movements[CONTRACTION])
        regained = f.movements[EXPANSION] + f.movements[REACTIVATION]
        mrr_churn_rate = round(100 * (lost - regained) / f.mrr_at_start, 2) if f.mrr_at_start else 0.0
        ltv = round(arpa / (churn_rate / 100)) if churn_rate > 0 else 0
        return {"mrr": f.mrr, "arr": 12 * f.mrr, "customer-churn-rate": float(churn_rate),
                "mrr-churn-rate": float(mrr_churn_rate), "ltv": ltv, "customers": f.customers, "asp": asp,
                "arpa": arpa}

    def response(self, metric: str, params: dict[str, str]) -> dict[str, Any]:
        """The body of ``GET /v1/metrics/{metric}``; raises ``MetricsError`` for a bad request."""
        start = _parse_day(params, "start-date")
        end = _parse_day(params, "end-date")
        if end < start:
            raise MetricsError('Parameter "end-date" must not be before "start-date"', "end-date")
        interval = params.get("interval") or ("month" if metric in MONTHLY_BY_DEFAULT else "day")
        if interval not in INTERVALS:
            raise MetricsError(f'Parameter "interval" must be one of {", ".join(INTERVALS)}', "interval")
        figures = self.figures(start, end, interval, self.series(params))
        rows = [self.values(f) for f in figures]
        if metric == "all":
            return self._all(figures, rows)
        key = VALUE_KEY[metric]
        series = [row[key] for row in rows]
        changes = _changes(series)
        entries = []
        for f, value, change in zip(figures, series, changes):
            entry: dict[str, Any] = {"date": f.date, key: value, "percentage-change": change}
            if metric == "mrr":
                entry.update({name: f.movements[kind] for name, kind in MOVEMENT_KEYS})
            entries.append(entry)
        current, previous = series[-1], series[-2] if len(series) > 1 else series[-1]
        return {"entries": entries,
                "summary": {"current": current, "previous": previous,
                            "percentage-change": _change(current, previous)}}

    @staticmethod
    def _all(figures: list[BucketFigures], rows: list[dict[str, Any]]) -> dict[str, Any]:
        changes = {key: _changes([row[key] for row in rows]) for key in ALL_ORDER}
        entries = []
        for i, f in enumerate(figures):
            entry: dict[str, Any] = {"date": f.date}
            for key in ALL_ORDER:
                entry[key] = rows[i][key]
                entry[f"{key}-percentage-change"] = changes[key][i]
            entries.append(entry)
        summary: dict[str, Any] = {}
        for key in ALL_ORDER:
            current = rows[-1][key]
            previous = rows[-2][key] if len(rows) > 1 else current
            summary.update({f"current-{key}": current, f"previous-{key}": previous,
                            f"{key}-percentage-change": _change(current, previous)})
        return {"entries": entries, "summary": summary}


def _change(value: float, previous: float) -> float:
    return round(100 * (value - previous) / abs(previous), 2) if previous else 0.0


def _changes(series: list) -> list[float]:
    return [0.0] + [_change(v, p) for p, v in zip(series, series[1:])]
