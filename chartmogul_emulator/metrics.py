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

Rates use the bucket as is (the real API normalises some of them to a month; not reproduced).
Default ``interval`` when omitted (unconfirmed upstream): ``month`` for asp, ltv and the churn rates
(2016 recordings show month-end points for those), ``day`` for the others.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from typing import Any, Sequence

from .account import CHURN, CONTRACTION, EXPANSION, NEW_BIZ, REACTIVATION, Account

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
    """A bad request: rendered as a 400 ``{code, message, param}`` body."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


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

    @staticmethod
    def _state_after(count: int, series: Sequence[int]) -> int:
        """The running sum after the first ``count`` activities."""
        return series[count - 1] if count else 0

    def figures(self, start: dt.date, end: dt.date, interval: str) -> list[BucketFigures]:
        a = self.account
        result = []
        for first, last in buckets(start, end, interval):
            before = a.activities_up_to(_epoch(first) - 1)
            upto = a.activities_up_to(_epoch(last) + 86399)
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
        figures = self.figures(start, end, interval)
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
