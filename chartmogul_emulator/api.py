"""The endpoint table and page rendering of the emulated ChartMogul REST API v1 (read endpoints).

For each GET route: its path template, records (envelope) key, pagination style, the legacy keys a
first page carries when requested without ``cursor``, the keys of a legacy ``page=`` response, and the
filters it honours. ``Api.list_records(path, params)`` returns every record a complete pagination of
that request yields, in order: it is also the ground truth tests compare against.

Listings are sequences of *ranks* (positions in a collection's global output order), so a filtered list
stays sorted and a cursor, which names the last record served (never a position), resolves by bisect.
Records are rendered only for the slice being served.

Choices where the recordings say nothing (all documented in the report):
* ``/v1/activities`` cursor = UUID of the last entry served; the next page starts after it, exactly like
  the legacy ``start-after``. The recorded skip anomaly (reference §4.3) is not reproduced.
* An empty page has ``cursor: null`` (as recorded), except customer subscriptions whose page-number
  cursor is always the next page (``customer_subscriptions__6``).
* CRM lists (contacts, notes, opportunities, tasks) ignore ``page`` (``contacts__5``: page=3 returned the
  first page with cursor keys).
* Unknown query parameters are ignored; a boolean flag is on only when it is ``true``.
* What a parameter reveals (reference §7.2, §7.3, §7.14, §7.15, §10): account settings only with ``include``
  (only those named), data-source settings only with their ``with_*`` flags, disabled invoices, line items and
  subscription events only with ``with_disabled=true``, invalid invoices only with ``validation_type=invalid``
  (only them) or ``all``, ``edit_history_summary`` only with ``include_edit_histories=true``; ``geo``, ``plans``
  and ``filters`` restrict the metric series (metrics.py).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
import re
from array import array
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from .account import ACTIVITY_TYPES, Account, format_millis, format_nanos
from .metrics import METRIC_NAMES, MetricsEngine, MetricsError

MAX_PER_PAGE = 200
DATE_BOUNDARIES = ("inclusive", "exclusive", "half-open")
PAGINATION_FAULTS = ("empty_page_has_more", "short_page_has_more", "repeat_cursor")
# How a list says there is more (reference §4): "current" as today (top-level cursor and has_more, legacy page counts
# on a first page); "meta": has_more and cursor only inside ``meta`` (subscription_events__5, Aug 2023) on every page;
# "legacy": page counts only, no cursor (plans__4, invoices__3; customers also keep has_more, customers_list__8).
PAGING_SHAPES = ("current", "meta", "legacy")
NIL_UUID = "00000000-0000-0000-0000-000000000000"
START = -1  # rank "before the first record": what a start cursor resolves to


class ApiError(Exception):
    """An error answered with a ``{code, message, param}`` JSON body."""

    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param = status, message, param

    def body(self) -> dict[str, Any]:
        return {"code": self.status, "message": self.message, "param": self.param}


class SeqView(Sequence[int]):
    """A read-only window on a sequence (no copy), usable by ``bisect``."""

    def __init__(self, base: Sequence[int], start: int, stop: int) -> None:
        self.base, self.start, self.stop = base, start, max(start, stop)

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            lo, hi, step = index.indices(len(self))
            return self.base[self.start + lo:self.start + hi:step]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self.base[self.start + index]


@dataclass(frozen=True)
class Table:
    """A collection in its global output order: renders a rank, and maps ranks to cursors and back."""
    render: Callable[[int], dict[str, Any]]
    cursor_of: Callable[[int], str]
    rank_of_cursor: Callable[[str], int | None]
    start_cursor: str


def b64_cursor(timestamp: str, key: object) -> str:
    return base64.b64encode(f"{timestamp}&{key}".encode()).decode()


def b64_key(cursor: str) -> str | None:
    """The key part of a ``base64(<timestamp>&<key>)`` cursor, None when malformed."""
    try:
        text = base64.b64decode(cursor.encode(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return text.rpartition("&")[2] if "&" in text else None


def b64_table(render: Callable[[int], dict[str, Any]], timestamp_of: Callable[[int], str],
              key_of: Callable[[int], object], rank_of_key: Callable[[str], int | None]) -> Table:
    def rank_of_cursor(cursor: str) -> int | None:
        key = b64_key(cursor)
        if key is None:
            return None
        return START if key == "" else rank_of_key(key)
    return Table(render, lambda r: b64_cursor(timestamp_of(r), key_of(r)), rank_of_cursor, b64_cursor("", ""))


def _rank_by_key(keys: Iterable[object]) -> dict[str, int]:
    """Cursor key (as text) -> rank."""
    return {str(key): rank for rank, key in enumerate(keys)}


def _int_key(base: int, size: int, descending: bool = False) -> Callable[[str], int | None]:
    def rank(key: str) -> int | None:
        try:
            n = int(key) - base
        except ValueError:
            return None
        if not 0 <= n < size:
            return None
        return size - 1 - n if descending else n
    return rank


@dataclass(frozen=True)
class Style:
    """Envelope shapes of one paginated endpoint (key order as recorded)."""
    records_key: str
    first_page: tuple[str, ...]          # without cursor
    next_page: tuple[str, ...] = ("cursor", "has_more")  # with cursor
    legacy_page: tuple[str, ...] | None = None  # with ?page=; None: ``page`` is ignored
    total_pages_floor: int = 0           # customers report total_pages 1 for an empty list
    total_pages_null: bool = False       # customers/search reports null
    page_number_cursor: bool = False     # customer subscriptions: base64("subscriptions_next_page=N")


CUSTOMERS = Style("entries", ("current_page", "total_pages", "has_more", "per_page", "page", "cursor"),
                  legacy_page=("current_page", "total_pages", "has_more", "per_page", "page"), total_pages_floor=1)
SEARCH = Style("entries", CUSTOMERS.first_page, legacy_page=CUSTOMERS.legacy_page, total_pages_null=True)
ACTIVITIES = Style("entries", ("has_more", "per_page", "cursor"), next_page=("has_more", "cursor"))
CUSTOMER_ACTIVITIES = Style("entries", ("has_more", "per_page", "page", "cursor"))
CUSTOMER_SUBSCRIPTIONS = Style("entries", ("has_more", "per_page", "page", "cursor"), page_number_cursor=True)
CATALOG = ("current_page", "total_pages", "cursor", "has_more")
PLANS = Style("plans", CATALOG, legacy_page=("current_page", "total_pages"))
PLAN_GROUPS = Style("plan_groups", CATALOG, legacy_page=("current_page", "total_pages"))
INVOICES = Style("invoices", ("total_pages", "current_page", "cursor", "has_more"),
                 legacy_page=("total_pages", "current_page"))
IMPORT_INVOICES = Style("invoices", CATALOG, legacy_page=("current_page", "total_pages"))
IMPORT_SUBSCRIPTIONS = Style("subscriptions", CATALOG, legacy_page=("current_page", "total_pages"))
SUBSCRIPTION_EVENTS = Style("subscription_events", ("meta", "cursor", "has_more"))
CRM = Style("entries", ("cursor", "has_more"))


@dataclass
class Listing:
    """A paginated answer before pagination: which records, in which table, in which envelope."""
    table: Table
    ranks: Sequence[int]
    style: Style
    prefix: dict[str, Any] = field(default_factory=dict)  # e.g. customer_uuid on /import lists


@dataclass(frozen=True)
class Route:
    template: str
    pattern: re.Pattern[str]
    handler: Callable[..., Any]


def parse_instant(raw: str, param: str) -> float:
    """ISO-8601 date or datetime (``Z``, ``+00:00``, naive = UTC) to epoch seconds."""
    text = raw.strip().replace(" ", "+")  # an unencoded '+' in a query string arrives as a space
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ApiError(400, f'Parameter "{param}" is invalid', param) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.timestamp()


def parse_per_page(params: dict[str, str], *names: str) -> int:
    for name in names:
        if name in params:
            try:
                value = int(params[name])
            except ValueError:
                raise ApiError(400, f'Parameter "{name}" is invalid', name) from None
            if value < 1:
                raise ApiError(400, f'Parameter "{name}" is invalid', name)
            return min(value, MAX_PER_PAGE)
    return MAX_PER_PAGE


class Api:
    """Routes GET requests of the ChartMogul API v1 to the account."""

    def __init__(self, account: Account, date_boundaries: str = "inclusive", paging_shape: str = "current") -> None:
        if date_boundaries not in DATE_BOUNDARIES:
            raise ValueError(f"date_boundaries must be one of {DATE_BOUNDARIES}")
        if paging_shape not in PAGING_SHAPES:
            raise ValueError(f"paging_shape must be one of {PAGING_SHAPES}")
        self.account = account
        self.date_boundaries = date_boundaries
        self.paging_shape = paging_shape
        self.metrics = MetricsEngine(account)
        a = account
        n_act = a.activity_count
        n_sub = len(a.subscriptions)
        self.customers = b64_table(
            a.customer_record,
            lambda r: format_nanos(a.customers[r].since * 1000) if a.customers[r].since is not None else "",
            lambda r: a.customers[r].id, _int_key(a.customers[0].id if a.customers else 0, len(a.customers)))
        self.activities = Table(a.activity_record, a.activity_uuid,
                                lambda c: START if c == NIL_UUID else a.activity_rank(c), NIL_UUID)
        self.customer_activities = b64_table(
            a.customer_activity_record, lambda r: format_nanos(a.act_date[r] * 1000), a.activity_id,
            _int_key(a.activity_id(0), n_act))
        # newest first: rank r is activity n-1-r
        self.subscription_events, self.subscription_events_with_disabled = (b64_table(
            lambda r, flag=flag: a.subscription_event_view(n_act - 1 - r, flag),
            lambda r: format_nanos(a.act_date[n_act - 1 - r] * 1000),
            lambda r: 370_000_000 + n_act - 1 - r, _int_key(370_000_000, n_act, descending=True)) for flag in (False, True))
        sub_rank = {f"sub_{s.uuid}": n_sub - 1 - i for i, s in enumerate(a.subscriptions)}
        self.import_subscriptions = b64_table(
            lambda r: a.import_subscription_record(n_sub - 1 - r),
            lambda r: format_nanos(a.subscriptions[n_sub - 1 - r].start * 1000),
            lambda r: f"sub_{a.subscriptions[n_sub - 1 - r].uuid}", sub_rank.get)
        # paginated by page number (``_page_numbered``), so its records need no cursor of their own
        self.customer_subscriptions = Table(a.customer_subscription_record, str, lambda c: None, "")
        self.plans = b64_table(a.plan_record, lambda r: format_nanos(a.plans[r].created_ms),
                               lambda r: a.plans[r].id, _rank_by_key(p.id for p in a.plans).get)
        self.plan_groups = b64_table(a.plan_group_record, lambda r: format_nanos(a.plan_groups[r].created_ms),
                                     lambda r: a.plan_groups[r].id, _rank_by_key(g.id for g in a.plan_groups).get)
        self.invoice_rank_by_uuid = _rank_by_key(v.uuid for v in a.invoices)
        self.invoice_views: dict[tuple[bool, bool, bool], Table] = {}  # (with customer, disabled, edit history)
        self.listed_invoices: dict[tuple[bool, str], list[int]] = {}  # (with_disabled, validation_type) -> ranks
        self.enabled_events: Sequence[int] | None = None  # event ranks listed without with_disabled, once asked
        crm_records = {"contacts": a.contacts, "customer_notes": a.notes, "opportunities": a.opportunities,
                       "tasks": a.tasks}
        self.crm_records = crm_records
        self.crm_rank_by_key = {name: _rank_by_key(r.key for r in records) for name, records in crm_records.items()}
        self.crm = {name: b64_table(lambda r, records=records: dict(records[r].fields),
                                    lambda r, records=records: format_nanos(records[r].created_ms),
                                    lambda r, records=records: records[r].key, self.crm_rank_by_key[name].get)
                    for name, records in crm_records.items()}
        self.crm_by_customer = {name: self._group_by_customer(records) for name, records in crm_records.items()}
        self.invoices_by_customer = self._group_by_customer(a.invoices)
        self.plan_rank_by_uuid = {p.uuid: i for i, p in enumerate(a.plans)}
        self.plan_group_rank_by_uuid = {g.uuid: i for i, g in enumerate(a.plan_groups)}
        self.plan_rank_by_index = {p.id - 1_100_000: i for i, p in enumerate(a.plans)}
        self.data_source_by_uuid = {d.uuid: i for i, d in enumerate(a.data_sources)}
        self.routes = self._routes()

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _group_by_customer(records) -> dict[int, list[int]]:
        groups: dict[int, list[int]] = {}
        for rank, record in enumerate(records):
            groups.setdefault(record.customer, []).append(rank)
        return groups

    def _customer(self, uuid: str) -> int:
        index = self.account.customer_by_uuid.get(uuid)
        if index is None:
            raise ApiError(404, f'Customer "{uuid.removeprefix("cus_")}" does not exist', "customer_uuid")
        return index

    @staticmethod
    def _find(mapping: dict[str, int], uuid: str, noun: str, prefix: str) -> int:
        index = mapping.get(uuid)
        if index is None:
            label = noun.replace("_", " ").capitalize()  # shaped like the recorded 'Contact "<uuid>" does not exist'
            raise ApiError(404, f'{label} "{uuid.removeprefix(prefix)}" does not exist', f"{noun}_uuid")
        return index

    # ------------------------------------------------------------------ routes

    def _routes(self) -> list[Route]:
        table = [
            ("/v1/ping", self._ping), ("/v1/account", self._account),
            ("/v1/data_sources", self._data_sources), ("/v1/data_sources/{uuid}", self._data_source),
            ("/v1/customers", self._customers), ("/v1/customers/search", self._search),
            ("/v1/customers/{uuid}", self._customer_get), ("/v1/customers/{uuid}/attributes", self._attributes),
            ("/v1/customers/{uuid}/activities", self._customer_activities_list),
            ("/v1/customers/{uuid}/subscriptions", self._customer_subscriptions_list),
            ("/v1/customers/{uuid}/contacts", self._customer_contacts),
            ("/v1/import/customers/{uuid}/subscriptions", self._import_subscriptions_list),
            ("/v1/import/customers/{uuid}/invoices", self._import_invoices_list),
            ("/v1/activities", self._activities_list),
            ("/v1/plans", self._plans_list), ("/v1/plans/{uuid}", self._plan),
            ("/v1/plan_groups", self._plan_groups_list), ("/v1/plan_groups/{uuid}", self._plan_group),
            ("/v1/plan_groups/{uuid}/plans", self._plan_group_plans),
            ("/v1/invoices", self._invoices_list), ("/v1/invoices/{uuid}", self._invoice),
            ("/v1/subscription_events", self._subscription_events_list),
        ]
        for metric in METRIC_NAMES:
            table.append((f"/v1/metrics/{metric}", lambda m, p, metric=metric: self.metrics.response(metric, p)))
        for name, noun, prefix in (("contacts", "contact", "con_"), ("customer_notes", "note", "note_"),
                                   ("opportunities", "opportunity", ""), ("tasks", "task", "")):
            table.append((f"/v1/{name}", lambda m, p, name=name: self._crm_list(name, p)))
            table.append((f"/v1/{name}/{{uuid}}", lambda m, p, name=name, noun=noun, prefix=prefix:
                          self._crm_get(name, noun, prefix, m["uuid"])))
        return [Route(template, re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "/?$"), handler)
                for template, handler in table]

    def resolve(self, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            match = route.pattern.match(path)
            if match:
                return route, match.groupdict()
        return None

    def template_of(self, path: str) -> str:
        resolved = self.resolve(path)
        return resolved[0].template if resolved else "(unknown)"

    def _answer(self, path: str, params: dict[str, str]) -> Any:
        resolved = self.resolve(path)
        if resolved is None:
            raise ApiError(404, "The requested resource could not be found", None)
        route, groups = resolved
        return route.handler(groups, params)

    # ------------------------------------------------------------------ public entry points

    def get(self, path: str, params: dict[str, str], pagination_fault: str | None = None) -> tuple[int, Any]:
        """(status, JSON body) of ``GET path?params``; ``pagination_fault`` distorts a cursor page."""
        try:
            answer = self._answer(path, params)
            if isinstance(answer, Listing):
                return 200, self.render_page(answer, params, pagination_fault)
            return 200, answer
        except ApiError as error:
            return error.status, error.body()
        except MetricsError as error:
            return error.status, {"code": error.status, "message": str(error), "param": error.param}

    def list_records(self, path: str, params: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """Every record a complete pagination of this request returns (metrics: the entries)."""
        params = dict(params or {})
        try:
            answer = self._answer(path, params)
        except MetricsError as error:
            raise ApiError(error.status, str(error), error.param) from None
        if isinstance(answer, Listing):
            records = [answer.table.render(rank) for rank in answer.ranks]
        elif isinstance(answer.get("entries"), list):
            records = answer["entries"]
        elif isinstance(answer.get("data_sources"), list):
            records = answer["data_sources"]
        else:
            records = [answer]
        # some renderers memoise their records: hand out copies the caller may change freely
        return json.loads(json.dumps(records))

    # ------------------------------------------------------------------ page rendering

    def render_page(self, listing: Listing, params: dict[str, str], fault: str | None = None) -> dict[str, Any]:
        style = listing.style
        ranks = listing.ranks
        per_page = parse_per_page(params, "per_page", "per-page")
        total = len(ranks)
        total_pages = max(style.total_pages_floor, math.ceil(total / per_page))
        values: dict[str, Any] = {"per_page": per_page,
                                  "total_pages": None if style.total_pages_null else total_pages}
        if style.page_number_cursor:
            return self._page_numbered(listing, params, per_page, values)
        if "page" in params and style.legacy_page is not None:
            page = self._page_number(params)
            start = (page - 1) * per_page
            rows = ranks[start:start + per_page]
            values.update(current_page=page, page=page, has_more=start + per_page < total)
            return self._envelope(listing, rows, style.legacy_page, values)
        cursor = params.get("cursor") or params.get("start-after")
        if cursor:
            after = listing.table.rank_of_cursor(cursor)
            if after is None:
                name = "cursor" if params.get("cursor") else "start-after"
                raise ApiError(400, f'Parameter "{name}" is invalid', name)
            start = bisect_right(ranks, after)
            keys = style.next_page
        else:
            start = 0
            keys = style.first_page
        rows = ranks[start:start + per_page]
        has_more = start + per_page < total
        next_cursor = listing.table.cursor_of(rows[-1]) if len(rows) else None
        if fault == "empty_page_has_more":
            # nothing served; the cursor resumes right before the page that was due
            next_cursor = listing.table.cursor_of(ranks[start - 1]) if start > 0 else listing.table.start_cursor
            rows, has_more = [], True
        elif fault == "short_page_has_more":
            # half the page served, and a cursor that resumes right after the last row served
            rows, has_more = rows[:len(rows) // 2], True
            if len(rows):
                next_cursor = listing.table.cursor_of(rows[-1])
            else:
                next_cursor = listing.table.cursor_of(ranks[start - 1]) if start > 0 else listing.table.start_cursor
        elif fault == "repeat_cursor":
            next_cursor = cursor or listing.table.start_cursor  # following it serves this page again
        values.update(has_more=has_more, cursor=next_cursor, current_page=1, page=1)
        if "meta" in keys:
            values["meta"] = {"next_key": listing.table.render(rows[-1]).get("id") if len(rows) else None,
                              "prev_key": None, "before_key": self._now(),
                              "page": 1 if total else 0, "total_pages": total_pages}
        return self._envelope(listing, rows, keys, values)

    def _now(self) -> str:
        """``meta.before_key``: the time of the request as recorded, i.e. the account's clock."""
        return format_millis(self.account.now * 1000)

    @staticmethod
    def _page_number(params: dict[str, str]) -> int:
        try:
            return max(1, int(params["page"]))
        except ValueError:
            raise ApiError(400, 'Parameter "page" is invalid', "page") from None

    def _page_numbered(self, listing: Listing, params: dict[str, str], per_page: int,
                       values: dict[str, Any]) -> dict[str, Any]:
        """Customer subscriptions: the cursor is base64 of ``subscriptions_next_page=<N>``."""
        cursor = params.get("cursor")
        page = 1
        if cursor:
            try:
                text = base64.b64decode(cursor.encode(), validate=True).decode()
                page = int(text.removeprefix("subscriptions_next_page="))
            except (binascii.Error, UnicodeDecodeError, ValueError):
                raise ApiError(400, 'Parameter "cursor" is invalid', "cursor") from None
        start = (page - 1) * per_page
        rows = listing.ranks[start:start + per_page]
        empty = not listing.ranks
        values.update(has_more=start + per_page < len(listing.ranks), page=page,
                      cursor=None if empty else
                      base64.b64encode(f"subscriptions_next_page={page + 1}".encode()).decode())
        keys = listing.style.next_page if cursor else listing.style.first_page
        return self._envelope(listing, rows, keys, values)

    def _envelope(self, listing: Listing, rows: Sequence[int], keys: tuple[str, ...], values: dict[str, Any]) -> dict:
        body: dict[str, Any] = dict(listing.prefix)
        records = body[listing.style.records_key] = [listing.table.render(rank) for rank in rows]
        if self.paging_shape == "meta":
            body["meta"] = {"next_key": records[-1].get("id") if records else None, "prev_key": None,
                            "before_key": self._now(), "page": values.get("page", 1),
                            "total_pages": values["total_pages"], "has_more": values["has_more"],
                            "cursor": values["cursor"]}
            return body
        if self.paging_shape == "legacy":
            keys = listing.style.legacy_page or ("current_page", "total_pages")
            values = {**values, "current_page": values.get("current_page", values.get("page", 1))}
        for key in keys:
            body[key] = values[key]
        return body

    # ------------------------------------------------------------------ handlers: simple objects

    def _ping(self, m, p) -> dict:
        return {"data": "pong!"}

    @staticmethod
    def _flag(p: dict[str, str], name: str) -> bool:
        return p.get(name) == "true"

    def _account(self, m, p) -> dict:
        return self.account.account_record([name for name in p.get("include", "").split(",") if name])

    def _data_sources(self, m, p) -> dict:
        a = self.account
        indexes = [i for i, d in enumerate(a.data_sources)
                   if p.get("name", d.name) == d.name and p.get("system", d.system) == d.system]
        return {"data_sources": [a.data_source_record(i, p) for i in indexes]}

    def _data_source(self, m, p) -> dict:
        index = self._find(self.data_source_by_uuid, m["uuid"], "data_source", "ds_")
        return self.account.data_source_record(index, p)

    def _customer_get(self, m, p) -> dict:
        return self.account.customer_record(self._customer(m["uuid"]), with_website=True)

    def _attributes(self, m, p) -> dict:
        return self.account.customer_attributes(self._customer(m["uuid"]))

    def _plan(self, m, p) -> dict:
        return self.account.plan_record(self._find(self.plan_rank_by_uuid, m["uuid"], "plan", "pl_"))

    def _plan_group(self, m, p) -> dict:
        return self.account.plan_group_record(self._find(self.plan_group_rank_by_uuid, m["uuid"], "plan_group", "plg_"))

    def _invoice(self, m, p) -> dict:
        return self._invoice_view(p, with_customer=True).render(
            self._find(self.invoice_rank_by_uuid, m["uuid"], "invoice", "inv_"))

    def _invoice_view(self, p: dict[str, str], with_customer: bool) -> Table:
        """The invoices table rendering what ``p`` asks for (disabled line items and fields, edit histories)."""
        key = (with_customer, self._flag(p, "with_disabled"), self._flag(p, "include_edit_histories"))
        if key not in self.invoice_views:
            a = self.account
            self.invoice_views[key] = b64_table(
                lambda r: a.invoice_record(r, *key), lambda r: format_nanos(a.invoices[r].created_ms),
                lambda r: a.invoices[r].uuid, self.invoice_rank_by_uuid.get)
        return self.invoice_views[key]

    def _listed_invoices(self, p: dict[str, str]) -> list[int]:
        """Ranks of the invoices a list shows: enabled ones unless with_disabled, valid ones unless validation_type."""
        validation = p.get("validation_type") or "valid"
        if validation not in ("valid", "invalid", "all"):
            raise ApiError(400, 'Parameter "validation_type" is invalid', "validation_type")
        key = (self._flag(p, "with_disabled"), validation)
        if key not in self.listed_invoices:
            self.listed_invoices[key] = [
                r for r, v in enumerate(self.account.invoices)
                if (key[0] or v.disabled_ms is None) and validation in ("all", "invalid" if v.invalid else "valid")]
        return self.listed_invoices[key]

    def _listed_invoices_of(self, customer: int, p: dict[str, str]) -> list[int]:
        """Ranks of one customer's invoices that a list shows (as ``_listed_invoices``)."""
        listed = set(self._listed_invoices(p))
        return [r for r in self.invoices_by_customer.get(customer, []) if r in listed]

    def _crm_get(self, name: str, noun: str, prefix: str, uuid: str) -> dict:
        return self.crm[name].render(self._find(self.crm_rank_by_key[name], uuid, noun, prefix))

    # ------------------------------------------------------------------ handlers: lists

    def _customers(self, m, p) -> Listing:
        a = self.account
        candidates: Sequence[int] = range(len(a.customers))
        if "data_source_uuid" in p:
            ds = self.data_source_by_uuid.get(p["data_source_uuid"])
            candidates = a.customers_by_data_source[ds] if ds is not None else []
        if "external_id" in p:
            wanted = set(a.customers_by_external_id.get(p["external_id"], ()))
            candidates = [i for i in candidates if i in wanted]
        if "status" in p:
            status = p["status"].replace("_", " ")
            candidates = [i for i in candidates if a.customer_status(a.customers[i]) == status]
        return Listing(self.customers, candidates, CUSTOMERS)

    def _search(self, m, p) -> Listing:
        email = p.get("email", "")
        if not email:
            raise ApiError(400, 'Parameter "email" is missing', "email")
        matches = self.account.customers_by_email.get(email)
        if not matches:
            raise ApiError(404, f'Can\'t find any customers with email: "{email}"', "email")
        return Listing(self.customers, matches, SEARCH)

    def _customer_activities_list(self, m, p) -> Listing:
        return Listing(self.customer_activities, self.account.customer_activity_ranks(self._customer(m["uuid"])),
                       CUSTOMER_ACTIVITIES)

    def _customer_subscriptions_list(self, m, p) -> Listing:
        subs = self.account.customers[self._customer(m["uuid"])].subscriptions
        return Listing(self.customer_subscriptions, subs, CUSTOMER_SUBSCRIPTIONS)

    def _customer_contacts(self, m, p) -> Listing:
        index = self._customer(m["uuid"])
        return Listing(self.crm["contacts"], self.crm_by_customer["contacts"].get(index, []), CRM)

    def _import_subscriptions_list(self, m, p) -> Listing:
        index = self._customer(m["uuid"])
        n_sub = len(self.account.subscriptions)
        ranks = sorted(n_sub - 1 - s for s in self.account.customers[index].subscriptions)
        return Listing(self.import_subscriptions, ranks, IMPORT_SUBSCRIPTIONS, {"customer_uuid": m["uuid"]})

    def _import_invoices_list(self, m, p) -> Listing:
        ranks = self._listed_invoices_of(self._customer(m["uuid"]), p)
        return Listing(self._invoice_view(p, with_customer=False), ranks, IMPORT_INVOICES, {"customer_uuid": m["uuid"]})

    def _activities_list(self, m, p) -> Listing:
        a = self.account
        kind = p.get("type")
        if kind is not None and kind not in ACTIVITY_TYPES:
            raise ApiError(400, 'Parameter "type" is invalid', "type")
        if kind is None:
            ranks: Sequence[int] = range(a.activity_count)
            dates: Sequence[int] = a.act_date
        else:
            ranks = a.type_ranks[ACTIVITY_TYPES.index(kind)]
            dates = a.type_dates[ACTIVITY_TYPES.index(kind)]
        lo, hi = 0, len(ranks)
        inclusive_start = self.date_boundaries != "exclusive"
        inclusive_end = self.date_boundaries == "inclusive"
        if p.get("start-date"):
            start = parse_instant(p["start-date"], "start-date")
            lo = (bisect_left if inclusive_start else bisect_right)(dates, start)
        if p.get("end-date"):
            end = parse_instant(p["end-date"], "end-date")
            hi = (bisect_right if inclusive_end else bisect_left)(dates, end)
        return Listing(self.activities, SeqView(ranks, lo, hi), ACTIVITIES)

    def _plans_list(self, m, p) -> Listing:
        a = self.account
        ranks = [i for i, plan in enumerate(a.plans)
                 if ("data_source_uuid" not in p or a.data_sources[plan.data_source].uuid == p["data_source_uuid"])
                 and ("external_id" not in p or plan.external_id == p["external_id"])]
        return Listing(self.plans, ranks, PLANS)

    def _plan_groups_list(self, m, p) -> Listing:
        return Listing(self.plan_groups, range(len(self.account.plan_groups)), PLAN_GROUPS)

    def _plan_group_plans(self, m, p) -> Listing:
        group = self.account.plan_groups[self._find(self.plan_group_rank_by_uuid, m["uuid"], "plan_group", "plg_")]
        return Listing(self.plans, sorted(self.plan_rank_by_index[i] for i in group.plans), PLANS)

    def _invoices_list(self, m, p) -> Listing:
        ranks: Sequence[int] = self._listed_invoices(p)
        if "customer_uuid" in p:
            index = self.account.customer_by_uuid.get(p["customer_uuid"])
            ranks = self._listed_invoices_of(index, p) if index is not None else []
        return Listing(self._invoice_view(p, with_customer=True), ranks, INVOICES)

    def _subscription_events_list(self, m, p) -> Listing:
        a = self.account
        n_act = a.activity_count
        customers: list[int] | None = None
        if "customer_uuid" in p:
            index = a.customer_by_uuid.get(p["customer_uuid"])
            customers = [index] if index is not None else []
        if "customer_external_id" in p:
            owners = [i for i in a.customers_by_external_id.get(p["customer_external_id"], ())
                      if a.customers[i].external_ids[0] == p["customer_external_id"]]
            customers = owners if customers is None else [i for i in customers if i in owners]
        with_disabled = self._flag(p, "with_disabled")  # disabled events are listed only when asked for
        table = self.subscription_events_with_disabled if with_disabled else self.subscription_events
        if customers is None:
            ranks: Sequence[int] = range(n_act) if with_disabled else self._enabled_events()
        else:
            ranks = sorted(n_act - 1 - r for c in customers for r in a.customer_activity_ranks(c)
                           if with_disabled or not a.event_disabled(r))
        return Listing(table, ranks, SUBSCRIPTION_EVENTS)

    def _enabled_events(self) -> Sequence[int]:
        if self.enabled_events is None:
            n_act = self.account.activity_count
            self.enabled_events = array("q", (r for r in range(n_act) if not self.account.event_disabled(n_act - 1 - r)))
        return self.enabled_events

    def _crm_list(self, name: str, p: dict[str, str]) -> Listing:
        records = self.crm_records[name]
        ranks: Sequence[int] = range(len(records))
        if "customer_uuid" in p:
            index = self.account.customer_by_uuid.get(p["customer_uuid"])
            ranks = self.crm_by_customer[name].get(index, []) if index is not None else []
        if name == "customer_notes" and "type" in p:
            ranks = [r for r in ranks if records[r].fields["type"] == p["type"]]
        return Listing(self.crm[name], ranks, CRM)
