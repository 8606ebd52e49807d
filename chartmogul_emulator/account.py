"""The synthetic ChartMogul account: a deterministic data model built from a seed and two sizes.

No HTTP here. Everything is generated once, sorted once and stored compactly; records are rendered as
dicts on demand (``*_record(rank)``), so one page costs O(page) whatever the account size. Customers and
invoices, which scale with the customer count and are the costliest to render, are rendered once at
build time instead.

What the account contains: 4 data sources, a few plans and plan groups (one may be empty), customers
(about 20 % leads without subscriptions, merged customers with several external ids and data sources,
shared e-mails, unicode names, ``""`` and nulls where the real API has them, ``owner`` null or an
e-mail), subscriptions changed over time (each change is one activity: ``new_biz``, ``expansion``,
``contraction``, ``churn``, ``reactivation``; ``activity-mrr`` = the customer's MRR after it), one
subscription event per activity, about one invoice per customer, and contacts, notes and call logs,
opportunities and tasks (15-30 % of the customer count each). Activity dates span 2019-01-01 to
2025-12-31; a share fall on midnights, first days of months, the first or last second of a year, or
on instants shared by several customers.

Storage choices (they matter at 1,000,000 activities):
* activities live in parallel ``array('q')`` columns in output order (ascending date, ties broken by a
  seeded random key); their UUIDs are not stored but computed from the rank by an invertible 64-bit
  mix, so a UUID cursor maps back to its rank in O(1);
* running sums over the activities (MRR, active customers, movement per type) make every metric a
  bisect plus a subtraction (see ``metrics.py``);
* per-customer views (customer activities, subscription events of one customer) use a CSR index.

What the 2026 parameters reveal (reference §10): a share of invoices, of their one-time line items and of the
subscription events are disabled (listed only with ``with_disabled=true``, which also adds ``disabled``,
``disabled_at``, ``disabled_by`` to every record), a share of invoices are invalid (non-empty ``errors``; listed
only with ``validation_type=invalid`` or ``all``), a share were edited (``edit_history_summary``, only with
``include_edit_histories=true``; its keys are the emulator's own: no recording shows one). These states are drawn
from hashes, not from the seeded generator, so the rest of the account is what it was before they existed. Disabled
records still count in the metrics (a simplification). Each customer belongs to one metrics segment: the country of
its address, its currency and the plan of its first subscription (``geo``, ``filters``, ``plans``).

Simulated days (``simulate_day``): the account has a clock (``now``, the end of the history at first) from which
active subscriptions' billing periods (``end-date``) are measured. A day moves it on 24 hours: a share of the customers
get one change each by the history's rule (activities appended after all earlier ones, so every earlier activity keeps
its rank, UUID and cursor), and every active subscription whose period ends that day renews without an activity.
A day may back-date some of its changes (``backdated``): their activities are inserted among the earlier ones by date,
as ChartMogul does with late billing data; activity UUIDs stay (they derive from a key, the rank the activity was
appended with), while the ranks, ids and subscription-event ids of the activities after them move on by one.

Timestamps are integer UTC epoch seconds (milliseconds for ``created_at`` style fields) and are
formatted per resource exactly as the real API does (see ``format_*`` below).
"""

from __future__ import annotations

import calendar
import hashlib
import random
import time
from array import array
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any, Sequence

ACTIVITY_TYPES = ("new_biz", "expansion", "contraction", "churn", "reactivation")
NEW_BIZ, EXPANSION, CONTRACTION, CHURN, REACTIVATION = range(5)

SPAN_START = calendar.timegm((2019, 1, 1, 0, 0, 0))
SPAN_END = calendar.timegm((2025, 12, 31, 23, 59, 59))
DAY = 86400
SUBSCRIPTION_ID_BASE = 2_290_000_000
ACTIVE_STEP = {NEW_BIZ: 1, REACTIVATION: 1, CHURN: -1}  # how each activity type moves the active-customer count
CYCLE_SECONDS = {"day": DAY, "month": 30 * DAY, "year": 365 * DAY}  # a billing cycle of one interval unit

_MASK64 = (1 << 64) - 1
_MIX = 0x9E3779B97F4A7C15  # odd, hence invertible modulo 2**64
_MIX_INV = pow(_MIX, -1, 1 << 64)

CURRENCIES = (("EUR", "€"), ("USD", "$"), ("GBP", "£"), ("JPY", "¥"))
FIRST_NAMES = ("Peter", "José", "Zoë", "Łukasz", "Gavin", "Ærin", "Søren", "Chloé", "Björn", "Ana",
               "李", "Nguyễn", "Дмитрий", "Ömer", "Kazuya", "Renée", "")
LAST_NAMES = ("Gibbons", "Müller", "Smith", "Ødegaard", "García", "Belson", "Kowalski", "王", "Hendricks",
              "Dupont", "O'Brien", "Kamenashi")
COMPANIES = ("Initech", "Hooli", "Pied Piper", "Initrode", "Umbrella GmbH", "Café Ünïcode", "東京 KK",
             "Acme & Söhne", "Globex", "")
PLACES = (("US", "CA", "United States", "California", "San Francisco", "94107"),
          ("US", "NY", "United States", "New York", "New York", "10001"),
          ("DE", None, "Germany", None, "Berlin", "10115"),
          ("GB", None, "United Kingdom", None, "London", None),
          ("FR", None, "France", None, "Paris", "75001"),
          ("JP", None, "Japan", None, "Tōkyō", None))
LEAD_STATUSES = ("New Lead", "Working Lead", "Qualified Lead", "Unqualified Lead")
OWNERS = ("ana@example.com", "bruno+sales@example.com", "keith@example.com")
PLAN_SHAPES = (("Bronze monthly", 1, "month"), ("Silver monthly", 1, "month"), ("Gold monthly", 1, "month"),
               ("Gold annual", 1, "year"), ("Platinum quarterly", 3, "month"), ("Trial weekly", 7, "day"),
               ("Enterprise annual", 1, "year"), ("Starter monthly", 1, "month"))


# --------------------------------------------------------------------------- formatting helpers

def format_offset(ts: int) -> str:
    """Metrics-API style: ``2016-01-01T12:00:00+00:00`` (customer-since, activity dates)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(ts))


def format_millis(ms: int) -> str:
    """Import/CRM style: ``2015-11-01T00:00:00.000Z`` (invoices, notes, tasks, data sources)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


def format_zulu(ts: int) -> str:
    """Subscription-event style: ``2022-05-18T09:48:34Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def format_nanos(ms: int) -> str:
    """The timestamp part of a base64 cursor: ``2023-10-29T18:08:50.244875000Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03d000000Z" % (ms % 1000)


def format_day(ts: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


def derived_uuid(seed: int, *parts: object) -> str:
    """A stable UUID-shaped string from a hash of (seed, parts): independent of generation order."""
    digest = hashlib.blake2b(repr((seed,) + parts).encode(), digest_size=16).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-{digest[16:20]}-{digest[20:]}"


def share(seed: int, percent: int, *parts: object) -> bool:
    """True for about ``percent`` % of the ``parts`` given: a stable draw that leaves the seeded generator alone."""
    digest = hashlib.blake2b(repr((seed, "share") + parts).encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") % 100 < percent


# The account settings ``GET /v1/account`` adds for each ``include`` value (reference §7.2: shapes str, bool, obj).
ACCOUNT_SETTINGS = {
    "churn_recognition": "immediately",
    "churn_when_zero_mrr": True,
    "auto_churn_subscription": False,
    "refund_handling": "refunds_reduce_mrr",
    "proximate_movement_reclassification": "enabled",
}
STAFF = ("ana@example.com", "keith@example.com")


# --------------------------------------------------------------------------- records kept compactly

@dataclass(frozen=True)
class DataSource:
    uuid: str
    name: str
    system: str
    created_ms: int
    status: str


@dataclass(frozen=True)
class Plan:
    id: int
    uuid: str
    external_id: str
    name: str
    interval_count: int
    interval_unit: str
    data_source: int
    created_ms: int
    price: int  # MRR of one unit, in cents


@dataclass(frozen=True)
class PlanGroup:
    id: int
    uuid: str
    name: str
    plans: tuple[int, ...]  # plan ranks
    created_ms: int


@dataclass
class Customer:
    id: int
    uuid: str
    external_ids: list[str]
    data_sources: list[int]
    name: str
    email: str
    company: str
    place: tuple | None
    city: str | None
    since: int | None
    lead_created_ms: int | None
    trial_ms: int | None
    currency: int
    owner: str | None
    tags: list[str]
    custom: dict[str, Any]
    past_due: bool
    mrr: int = 0
    subscriptions: list[int] = field(default_factory=list)


@dataclass
class Subscription:
    id: int
    uuid: str
    external_id: str
    set_external_id: str | None
    customer: int
    plan: int
    start: int
    quantity: int
    mrr: int = 0
    end: int | None = None  # cancellation time


@dataclass(frozen=True)
class Invoice:
    uuid: str
    external_id: str
    customer: int
    subscription: int
    date_ms: int
    has_due_date: bool
    one_time_item: bool
    transactions: int  # 0: none, 1: payment, 2: payment + refund
    created_ms: int
    disabled_ms: int | None = None  # when it was disabled; None: enabled
    one_time_item_disabled: bool = False
    invalid: bool = False
    edits: int = 0


def invoice_order(v: Invoice) -> tuple[int, str]:
    """Invoices are listed newest created first."""
    return -v.created_ms, v.uuid


@dataclass(frozen=True)
class SimulatedDay:
    """The ground truth of one simulated day (``Account.simulate_day``): what a daily sync must pick up."""
    start: int  # first second of the day
    end: int  # last second: the account's clock after the day
    activity_keys: Sequence[int]  # the day's activities by key (``activity_key``), in date order
    customers_with_activities: tuple[int, ...]  # customer indexes, ascending
    renewed_subscriptions: tuple[int, ...]  # active subscriptions whose billing period ended that day (ascending)
    customers_renewed_only: tuple[int, ...]  # their customers without an activity that day: changed, no activity
    invoices: tuple[str, ...]  # uuids of the invoices of the day's new subscriptions


@dataclass(frozen=True)
class CrmRecord:
    """A contact, note, opportunity or task; ``fields`` already holds the wire record."""
    key: str
    customer: int
    created_ms: int
    fields: dict[str, Any]


class Account:
    """The whole synthetic account. Build with ``Account.build(seed, customers, activities)``."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.data_sources: list[DataSource] = []
        self.plans: list[Plan] = []
        self.plan_groups: list[PlanGroup] = []
        self.customers: list[Customer] = []
        self.subscriptions: list[Subscription] = []
        self.invoices: list[Invoice] = []
        self.contacts: list[CrmRecord] = []
        self.notes: list[CrmRecord] = []
        self.opportunities: list[CrmRecord] = []
        self.tasks: list[CrmRecord] = []
        # activity columns, in output order (rank)
        self.act_date = array("q")
        self.act_customer = array("q")
        self.act_type = array("b")
        self.act_movement = array("q")
        self.act_mrr = array("q")
        self.act_subscription = array("q")
        # running sums after each activity (index i = after activities 0..i)
        self.cum_mrr = array("q")
        self.cum_active = array("q")
        self.cum_movement: list[array] = []
        self.cum_count: list[array] = []
        # CSR index: ranks of each customer's activities in date order
        self.cust_act_offsets = array("q")
        self.cust_act_ranks = array("q")
        # per-type ranks and dates, for the ``type`` filter
        self.type_ranks: list[array] = []
        self.type_dates: list[array] = []
        self._k1 = self._k2 = 0  # keys of the invertible activity-UUID mix
        # the key each activity's UUID derives from, by rank, and back: None while it is the rank (until a day
        # back-dates an activity)
        self.act_key: array | None = None
        self._rank_of_key: array | None = None
        # the account's clock: where active subscriptions' billing periods are measured from (``end-date``);
        # the end of the history, moved on a day at a time by ``simulate_day``
        self.now = SPAN_END
        self.days: list[SimulatedDay] = []  # what each simulated day changed, in order
        self._shared_instants: list[int] = []  # instants several customers' activities share
        self.customer_by_uuid: dict[str, int] = {}
        self.customers_by_email: dict[str, list[int]] = {}
        self.customers_by_external_id: dict[str, list[int]] = {}
        self.customers_by_data_source: list[list[int]] = []
        self.customer_records: list[dict[str, Any]] = []
        self.invoice_records: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ build

    @classmethod
    def build(cls, seed: int = 7, customers: int = 200, activities: int = 2000) -> "Account":
        if customers < 0 or activities < 0 or (activities and not customers):
            raise ValueError("sizes must be >= 0, and activities need at least one customer")
        account = cls(seed)
        account._build_catalog(customers)
        paying = min(customers, activities, max(1, round(customers * 0.8))) if activities else 0
        account._build_customers(customers, paying)
        account._build_activities(paying, activities)
        account._build_indexes()
        account._build_invoices()
        account._build_crm()
        account.customer_records = [account._render_customer(i) for i in range(len(account.customers))]
        account.invoice_records = [account._render_invoice(i) for i in range(len(account.invoices))]
        return account

    def _uuid(self, *parts: object) -> str:
        return derived_uuid(self.seed, *parts)

    def _created_ms(self, low: int = SPAN_START, high: int = SPAN_END) -> int:
        return self.rng.randint(low * 1000, high * 1000)

    def _build_catalog(self, customers: int) -> None:
        rng = self.rng
        systems = (("Import API", "Import API", "idle"), ("Stripe", "Stripe", "idle"),
                   ("Google Sheets app", "Google Sheets", "idle"), ("Legacy import", "Custom", "never_imported"))
        for i, (name, system, status) in enumerate(systems):
            self.data_sources.append(DataSource(f"ds_{self._uuid('ds', i)}", name, system,
                                                self._created_ms(SPAN_START - 400 * DAY, SPAN_START), status))
        plan_count = max(4, min(40, customers // 50))
        for i in range(plan_count):
            name, count, unit = PLAN_SHAPES[i % len(PLAN_SHAPES)]
            if i >= len(PLAN_SHAPES):
                name = f"{name} v{i // len(PLAN_SHAPES) + 1}"
            plan_uuid = self._uuid("plan", i)
            external_id = plan_uuid if i % 3 else f"plan_{name.replace(' ', '_')}"
            self.plans.append(Plan(1_100_000 + i, f"pl_{plan_uuid}", external_id, name, count, unit,
                                   i % 3, self._created_ms(SPAN_START - 300 * DAY, SPAN_START),
                                   rng.choice((900, 2900, 4900, 9900, 19900))))
        self.plans.sort(key=lambda p: (-p.created_ms, p.id))  # newest first, as the API lists them
        group_count = max(2, plan_count // 3)
        for g in range(group_count):
            size = rng.randint(2 if g == 0 else 0, min(4, plan_count))  # empty groups exist too
            members = tuple(sorted(rng.sample(range(plan_count), size)))
            self.plan_groups.append(PlanGroup(21_000 + g, f"plg_{self._uuid('plg', g)}", f"Plan group {g + 1}",
                                              members, self._created_ms(SPAN_START, SPAN_END)))
        self.plan_groups.sort(key=lambda p: (-p.created_ms, p.id))

    def _quirky_instant(self, low: int, high: int) -> int:
        """A time in [low, high]; a share fall on day, month and year boundaries or on shared instants."""
        rng = self.rng
        ts = rng.randint(low, high)
        roll = rng.random()
        if roll < 0.10:
            ts -= ts % DAY  # midnight
        elif roll < 0.14:
            t = time.gmtime(ts)
            ts = calendar.timegm((t.tm_year, t.tm_mon, 1, 0, 0, 0))  # first second of a month
        elif roll < 0.16:
            year = time.gmtime(ts).tm_year
            ts = calendar.timegm((year, 1, 1, 0, 0, 0)) if rng.random() < 0.5 else \
                calendar.timegm((year, 12, 31, 23, 59, 59))  # first/last second of a year
        elif roll < 0.22:
            ts = self._shared_instants[rng.randrange(len(self._shared_instants))]  # ties across customers
        return min(max(ts, low), high)

    def _build_customers(self, count: int, paying: int) -> None:
        rng = self.rng
        self._shared_instants = sorted(rng.randint(SPAN_START, SPAN_END) for _ in range(64))
        starts = [self._quirky_instant(SPAN_START, SPAN_END - 30 * DAY) for _ in range(paying)]
        starts.sort()  # ascending customer-since; leads (no customer-since) come last
        for rank in range(count):
            since = starts[rank] if rank < paying else None
            gen = rank  # ids follow the list order, so a customers cursor resolves by arithmetic
            ds = [rng.choice((0, 0, 1, 2))]
            external_ids = [f"cus_{gen:06d}"]
            tags: list[str] = []
            if rng.random() < 0.05:  # a merged customer: several external ids and data sources
                extra = rng.randint(1, 2)
                external_ids += [f"cus_{gen:06d}_m{j}" for j in range(extra)]
                ds += [ds[0]] + [rng.choice((0, 1, 2)) for _ in range(extra - 1)]
                tags.append("merged-customer")
            if rng.random() < 0.2:
                tags.append(rng.choice(("managed", "important", "auto-churned-delinquent-subscription")))
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            name = f"{first} {last}".strip() if rng.random() > 0.03 else ""
            roll = rng.random()
            if roll < 0.05:
                email = ""
            elif roll < 0.10 and self.customers:  # several customers can share one e-mail
                email = self.customers[rng.randrange(len(self.customers))].email or f"user{gen}@example.com"
            else:
                email = f"user{gen}@example{rank % 7}.com"
            place = rng.choice(PLACES) if rng.random() < 0.7 else None
            city: str | None = place[4] if place else rng.choice(("", "", None))
            lead_ms = trial_ms = None
            if rng.random() < 0.5:
                anchor = since if since is not None else rng.randint(SPAN_START, SPAN_END)
                lead_ms = (anchor - rng.randint(1, 60) * DAY) * 1000
                trial_ms = lead_ms + rng.randint(0, 7 * DAY) * 1000 if rng.random() < 0.6 else None
            custom: dict[str, Any] = {}
            if rng.random() < 0.2:
                custom = {"Toggle": rng.random() < 0.5, "CAC": rng.randint(10, 500)}
            self.customers.append(Customer(
                id=114_000_000 + rank, uuid=f"cus_{self._uuid('cus', gen)}", external_ids=external_ids,
                data_sources=ds, name=name, email=email, company=rng.choice(COMPANIES), place=place,
                city=city, since=since, lead_created_ms=lead_ms, trial_ms=trial_ms,
                currency=0 if rng.random() < 0.7 else rng.randrange(1, len(CURRENCIES)),
                owner=rng.choice(OWNERS) if rng.random() < 0.3 else None, tags=tags, custom=custom,
                past_due=rng.random() < 0.06))
        for i, c in enumerate(self.customers):
            self.customer_by_uuid[c.uuid] = i
            if c.email:
                self.customers_by_email.setdefault(c.email, []).append(i)
            for ext in dict.fromkeys(c.external_ids):
                self.customers_by_external_id.setdefault(ext, []).append(i)
        self.customers_by_data_source = [[] for _ in self.data_sources]
        for i, c in enumerate(self.customers):
            for d in dict.fromkeys(c.data_sources):
                self.customers_by_data_source[d].append(i)

    def _new_subscription(self, customer: int, at: int, rng: random.Random) -> Subscription:
        plan = rng.randrange(len(self.plans))
        n = len(self.subscriptions)
        quantity = rng.choice((1, 1, 1, 2, 5))
        sub = Subscription(id=SUBSCRIPTION_ID_BASE + n, uuid=self._uuid("sub", n), external_id=f"sub_{n:07d}",
                           set_external_id=f"set_{n:07d}" if rng.random() < 0.3 else None, customer=customer,
                           plan=plan, start=at, quantity=quantity, mrr=self.plans[plan].price * quantity)
        self.subscriptions.append(sub)
        self.customers[customer].subscriptions.append(n)
        return sub

    def _apply_change(self, cust: int, ts: int, active: list[Subscription], mrr: int,
                      rng: random.Random) -> tuple[int, Subscription, int]:
        """One subscription change of customer ``cust`` at ``ts``, the one rule of the history and of simulated
        days: (activity type, subscription, MRR movement). ``active`` (the customer's uncancelled subscriptions, in
        creation order) and the subscriptions are updated; ``mrr`` is the customer's MRR before the change."""
        if mrr == 0:
            kind = NEW_BIZ if not self.customers[cust].subscriptions else REACTIVATION
            sub = self._new_subscription(cust, ts, rng)
            active.append(sub)
            return kind, sub, sub.mrr
        roll = rng.random()
        shrinkable = [s for s in active if s.mrr >= 200]
        if roll < 0.15:
            for s in active:
                s.end = ts
            sub = active[-1]
            active.clear()
            return CHURN, sub, -mrr
        if roll < 0.55 or not shrinkable:
            if rng.random() < 0.25:
                sub = self._new_subscription(cust, ts, rng)
                active.append(sub)
                return EXPANSION, sub, sub.mrr
            sub = rng.choice(active)
            delta = rng.randint(1, 40) * 100
            sub.mrr += delta
            return EXPANSION, sub, delta
        sub = rng.choice(shrinkable)
        delta = -rng.randint(1, sub.mrr // 100 - 1) * 100
        sub.mrr += delta
        return CONTRACTION, sub, delta

    def _build_activities(self, paying: int, total: int) -> None:
        """Walk each paying customer through ``k`` subscription changes; sum of ``k`` equals ``total``."""
        rng = self.rng
        per_customer = [1] * paying
        if paying:
            weights = list(accumulate(rng.random() + 0.2 for _ in range(paying)))
            for i in rng.choices(range(paying), cum_weights=weights, k=total - paying):
                per_customer[i] += 1
        dates, owners, types, movements, mrrs, subs = [], [], [], [], [], []
        for cust, k in enumerate(per_customer):
            since = self.customers[cust].since
            assert since is not None
            times = [since] + sorted(self._quirky_instant(since, SPAN_END) for _ in range(k - 1))
            active: list[Subscription] = []
            mrr = 0
            for ts in times:
                kind, sub, delta = self._apply_change(cust, ts, active, mrr, rng)
                mrr += delta
                dates.append(ts)
                owners.append(cust)
                types.append(kind)
                movements.append(delta)
                mrrs.append(mrr)
                subs.append(sub.id - SUBSCRIPTION_ID_BASE)
            self.customers[cust].mrr = mrr
        tiebreak = [rng.getrandbits(20) for _ in dates]
        order = sorted(range(len(dates)), key=lambda i: (dates[i] << 20) | tiebreak[i])
        self.act_date = array("q", (dates[i] for i in order))
        self.act_customer = array("q", (owners[i] for i in order))
        self.act_type = array("b", (types[i] for i in order))
        self.act_movement = array("q", (movements[i] for i in order))
        self.act_mrr = array("q", (mrrs[i] for i in order))
        self.act_subscription = array("q", (subs[i] for i in order))
        self._k1 = rng.getrandbits(64)
        self._k2 = rng.getrandbits(64)

    def _build_indexes(self) -> None:
        n = len(self.act_date)
        self.cum_mrr = array("q", accumulate(self.act_movement))
        self.cum_active = array("q", accumulate(ACTIVE_STEP.get(t, 0) for t in self.act_type))
        for kind in range(len(ACTIVITY_TYPES)):
            self.cum_movement.append(array("q", accumulate(
                m if t == kind else 0 for t, m in zip(self.act_type, self.act_movement))))
            self.cum_count.append(array("q", accumulate(1 if t == kind else 0 for t in self.act_type)))
            ranks = array("q", (r for r in range(n) if self.act_type[r] == kind))
            self.type_ranks.append(ranks)
            self.type_dates.append(array("q", (self.act_date[r] for r in ranks)))
        by_customer = sorted(range(n), key=self.act_customer.__getitem__)  # stable: date order kept
        self.cust_act_ranks = array("q", by_customer)
        counts = [0] * (len(self.customers) + 1)
        for c in self.act_customer:
            counts[c + 1] += 1
        self.cust_act_offsets = array("q", accumulate(counts))

    def _build_invoices(self) -> None:
        """About one invoice per customer: each customer's first subscription, plus a share of later ones."""
        drafts = [self._invoice_of(n, self.rng) for n in range(len(self.subscriptions))]
        self.invoices = sorted((v for v in drafts if v is not None), key=invoice_order)

    def _invoice_of(self, n: int, rng: random.Random) -> Invoice | None:
        """The invoice of subscription ``n``, if it has one (always for a customer's first subscription)."""
        sub = self.subscriptions[n]
        if n != self.customers[sub.customer].subscriptions[0] and rng.random() > 0.2:
            return None
        date_ms = sub.start * 1000
        uuid = f"inv_{self._uuid('inv', n)}"
        has_due_date, one_time_item = rng.random() < 0.7, rng.random() < 0.2
        transactions = rng.choice((0, 1, 1, 1, 2))
        created_ms = date_ms + rng.randint(0, 3 * DAY * 1000)
        return Invoice(uuid=uuid, external_id=f"INV-{n:07d}", customer=sub.customer, subscription=n, date_ms=date_ms,
                       has_due_date=has_due_date, one_time_item=one_time_item, transactions=transactions,
                       created_ms=created_ms,
                       disabled_ms=created_ms + 5 * DAY * 1000 if share(self.seed, 6, "inv-off", uuid) else None,
                       one_time_item_disabled=one_time_item and share(self.seed, 25, "li-off", uuid),
                       invalid=share(self.seed, 5, "inv-invalid", uuid),
                       edits=1 + int(uuid[4], 16) % 3 if share(self.seed, 15, "inv-edit", uuid) else 0)

    def _build_crm(self) -> None:
        rng = self.rng
        count = len(self.customers)
        if not count:
            return

        def created() -> int:
            return self._created_ms(calendar.timegm((2023, 1, 1, 0, 0, 0)), SPAN_END)

        for i in range(max(1, count * 3 // 10)):
            cust = rng.randrange(count)
            c = self.customers[cust]
            key = f"con_{self._uuid('con', i)}"
            bare = rng.random() < 0.3
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            self.contacts.append(CrmRecord(key, cust, created(), {
                "uuid": key, "customer_uuid": c.uuid, "customer_external_id": c.external_ids[0],
                "data_source_uuid": self.data_sources[c.data_sources[0]].uuid, "position": rng.randint(1, 9),
                "first_name": None if bare else first, "last_name": None if bare else last,
                "title": None if bare else rng.choice(("CTO", "CEO", "Buyer", "")),
                "email": f"contact{i}@example.com", "phone": None if bare else f"+49{rng.randint(10**8, 10**9)}",
                "linked_in": None if bare else "https://linkedin.com/in/x", "twitter": None,
                "notes": None if bare else "Heading\\nBody\\nFooter",
                "custom": {} if bare else {"Toggle": rng.random() < 0.5}}))
        for i in range(max(1, count // 4)):
            cust = rng.randrange(count)
            key = f"note_{self._uuid('note', i)}"
            is_call = rng.random() < 0.4
            ms = created()
            updated = ms + (rng.randint(0, 10 * DAY * 1000) if rng.random() < 0.3 else 0)
            self.notes.append(CrmRecord(key, cust, ms, {
                "uuid": key, "customer_uuid": self.customers[cust].uuid, "type": "call" if is_call else "note",
                "text": rng.choice(("This is a note", "Call about renewal ☎", "Ünïcode text\nsecond line")),
                "call_duration": rng.randint(30, 3600) if is_call else 0,
                "author": "Ana Staff (ana@example.com)", "created_at": format_millis(ms),
                "updated_at": format_millis(updated)}))
        for i in range(max(1, count * 3 // 20)):
            cust = rng.randrange(count)
            key = self._uuid("opp", i)
            ms = created()
            self.opportunities.append(CrmRecord(key, cust, ms, {
                "uuid": key, "customer_uuid": self.customers[cust].uuid, "owner": rng.choice(OWNERS),
                "pipeline": "New Business", "pipeline_stage": rng.choice(("Discovery", "Evaluation", "Won")),
                "estimated_close_date": format_day(ms // 1000 + rng.randint(1, 90) * DAY),
                "currency": "USD", "amount_in_cents": rng.randint(1, 5000) * 100,
                "type": rng.choice(("recurring", "one-time")),
                "forecast_category": rng.choice(("best_case", "pipeline", "commit")),
                "win_likelihood": rng.randint(0, 100), "custom": {"from_campaign": rng.random() < 0.5},
                "created_at": format_millis(ms), "updated_at": format_millis(ms)}))
        for i in range(max(1, count * 3 // 20)):
            cust = rng.randrange(count)
            key = self._uuid("task", i)
            ms = created()
            due = (ms // 1000 // DAY + rng.randint(1, 30)) * DAY * 1000
            self.tasks.append(CrmRecord(key, cust, ms, {
                "task_uuid": key, "customer_uuid": self.customers[cust].uuid,
                "task_details": "Follow up ✔", "assignee": rng.choice(OWNERS), "due_date": format_millis(due),
                "completed_at": format_millis(due) if rng.random() < 0.3 else None,
                "created_at": format_millis(ms), "updated_at": format_millis(ms)}))
        for records in (self.contacts, self.notes, self.opportunities, self.tasks):
            records.sort(key=lambda r: (-r.created_ms, r.key))  # CRM lists: newest created first

    # ------------------------------------------------------------------ simulated days

    def simulate_day(self, share: float = 0.01, seed: int | None = None, backdated: int = 0,
                     backdated_days: int = 10) -> SimulatedDay:
        """Move the clock on one day and return what changed (also kept in ``days``).

        ``share`` of the customers, drawn from ``seed`` (default: the account's) and the day's date, get one
        subscription change each that day by the history's own rule (``_apply_change``): a lead signs up
        (``new_biz``), a cancelled customer comes back (``reactivation``), the others expand, contract or churn. A
        lead that signs up keeps its place among the leads at the end of the customer list (ids follow the list
        order, and cursors resolve by id), so that list is no longer wholly in ascending ``customer-since``. Every subscription still active whose billing period ends that day renews without an activity: its
        ``end-date`` moves on (that follows from the clock, see ``period_end``). A new subscription gets an invoice by
        the history's rule (``_invoice_of``); a renewal gets none (the history has about one invoice per customer).

        ``backdated``: that many of the changes (the first customers of the sample whose activities are all older)
        are dated ``backdated_days`` days before the instant drawn for them, in the day's ground truth all the same."""
        if not 0 <= share <= 1:
            raise ValueError(f"share must be between 0 and 1, got {share}")
        before, start, end = self.now, self.now + 1, self.now + DAY
        first_subscription = len(self.subscriptions)
        rng = random.Random(repr((self.seed if seed is None else seed, "day", format_day(end))))
        changes, back = [], backdated_days * DAY
        for cust in sorted(rng.sample(range(len(self.customers)), round(share * len(self.customers)))):
            c = self.customers[cust]
            ts = start if rng.random() < 0.1 else rng.randint(start, end)  # a share on the midnight, as in history
            own = self.customer_activity_ranks(cust)
            if backdated and (not own or self.act_date[own[-1]] < ts - back):
                backdated -= 1
                ts -= back
            if c.since is None:
                c.since = ts  # a lead becomes a customer
            active = [self.subscriptions[n] for n in c.subscriptions if self.subscriptions[n].end is None]
            kind, sub, delta = self._apply_change(cust, ts, active, c.mrr, rng)
            c.mrr += delta
            changes.append((ts, rng.getrandbits(20), cust, kind, delta, c.mrr, sub.id - SUBSCRIPTION_ID_BASE))
        # Appended in date order after every earlier activity (all dated before ``start``): the list stays sorted,
        # and since an activity's UUID, id and subscription-event id derive from its rank, earlier ones keep theirs,
        # so cursors a sync kept from before the day still resume where they stopped.
        # A back-dated change is inserted after the activities dated at or before it: the indexes are built again.
        first = self.activity_count
        for ts, _, cust, kind, delta, mrr, sub_index in sorted(changes):
            if ts < start and self.act_key is None:
                self.act_key, self._rank_of_key = array("q", range(first)), array("q", range(first))
            at = bisect_right(self.act_date, ts)
            for column, value in ((self.act_date, ts), (self.act_customer, cust), (self.act_type, kind),
                                  (self.act_movement, delta), (self.act_mrr, mrr), (self.act_subscription, sub_index)):
                column.insert(at, value)
            if self.act_key is not None:
                self.act_key.insert(at, len(self._rank_of_key))
                self._rank_of_key.append(at)
        if self.act_key is None:
            self._extend_indexes(first)
            day_keys: Sequence[int] = range(first, self.activity_count)
        else:
            for rank, key in enumerate(self.act_key):
                self._rank_of_key[key] = rank
            self.cum_movement, self.cum_count, self.type_ranks, self.type_dates = [], [], [], []
            self._build_indexes()
            day_keys = sorted(range(first, self.activity_count), key=self._rank_of_key.__getitem__)
        renewed = tuple(n for n, s in enumerate(self.subscriptions)
                        if s.end is None and s.start <= before and self.period_end(n, before) <= end)
        invoices = [v for n in range(first_subscription, len(self.subscriptions))
                    if (v := self._invoice_of(n, rng)) is not None]
        for v in invoices:
            at = bisect_left(self.invoices, invoice_order(v), key=invoice_order)
            self.invoices.insert(at, v)
            self.invoice_records.insert(at, self._render_invoice(at))
        changed = sorted({change[2] for change in changes})
        for cust in changed:
            self.customer_records[cust] = self._render_customer(cust)
        self.now = end
        day = SimulatedDay(start, end, day_keys, tuple(changed), renewed,
                           tuple(sorted({self.subscriptions[n].customer for n in renewed} - set(changed))),
                           tuple(v.uuid for v in invoices))
        self.days.append(day)
        return day

    def _extend_indexes(self, first: int) -> None:
        """Bring the running sums, per-type lists and per-customer index up to activities appended from ``first``."""
        added: dict[int, list[int]] = {}
        for r in range(first, self.activity_count):
            kind, movement = self.act_type[r], self.act_movement[r]
            self.cum_mrr.append((self.cum_mrr[-1] if r else 0) + movement)
            self.cum_active.append((self.cum_active[-1] if r else 0) + ACTIVE_STEP.get(kind, 0))
            for k in range(len(ACTIVITY_TYPES)):
                self.cum_movement[k].append((self.cum_movement[k][-1] if r else 0) + (movement if k == kind else 0))
                self.cum_count[k].append((self.cum_count[k][-1] if r else 0) + (k == kind))
            self.type_ranks[kind].append(r)
            self.type_dates[kind].append(self.act_date[r])
            added.setdefault(self.act_customer[r], []).append(r)
        offsets, ranks = self.cust_act_offsets, self.cust_act_ranks
        merged, copied = array("q"), 0
        for cust in sorted(added):  # each customer's new ranks go after its earlier ones
            merged.extend(ranks[copied:offsets[cust + 1]])
            merged.extend(array("q", added[cust]))
            copied = offsets[cust + 1]
        merged.extend(ranks[copied:])
        shifted, shift = array("q"), 0
        for cust, offset in enumerate(offsets):
            shifted.append(offset + shift)
            shift += len(added.get(cust, ()))
        self.cust_act_offsets, self.cust_act_ranks = shifted, merged

    # ------------------------------------------------------------------ activity identity

    @property
    def activity_count(self) -> int:
        return len(self.act_date)

    def activity_key(self, rank: int) -> int:
        """What the activity's UUID derives from: its rank, unless a back-dated activity was inserted before it."""
        return rank if self.act_key is None else self.act_key[rank]

    def activity_uuid(self, rank: int) -> str:
        return self.activity_uuid_of_key(self.activity_key(rank))

    def activity_uuid_of_key(self, key: int) -> str:
        """Invertible: the last 64 bits are a bijective mix of the key, the first 64 bits decorate."""
        low = ((key * _MIX) & _MASK64) ^ self._k1
        high = (((key + 1) * _MIX) ^ self._k2) & _MASK64
        text = f"{high:016x}{low:016x}"
        return f"{text[:8]}-{text[8:12]}-4{text[13:16]}-{text[16:20]}-{text[20:]}"

    def activity_rank(self, uuid: str) -> int | None:
        text = uuid.replace("-", "").lower()
        if len(text) != 32:
            return None
        try:
            low = int(text[16:], 16)
        except ValueError:
            return None
        key = ((low ^ self._k1) * _MIX_INV) & _MASK64
        if key >= self.activity_count:
            return None
        rank = key if self._rank_of_key is None else self._rank_of_key[key]
        return rank if self.activity_uuid(rank) == uuid.lower() else None

    def activity_id(self, rank: int) -> int:
        return 2_600_000_000 + rank

    def customer_activity_ranks(self, customer: int) -> Sequence[int]:
        return self.cust_act_ranks[self.cust_act_offsets[customer]:self.cust_act_offsets[customer + 1]]

    def activities_up_to(self, ts: int) -> int:
        """Number of activities dated at or before ``ts``."""
        return bisect_right(self.act_date, ts)

    # ------------------------------------------------------------------ wire records

    def customer_status(self, c: Customer) -> str:
        if c.since is None:
            return LEAD_STATUSES[c.id % len(LEAD_STATUSES)]
        if c.mrr == 0:
            return "Cancelled"
        return "Past Due" if c.past_due else "Active"

    def customer_record(self, index: int, with_website: bool = False) -> dict[str, Any]:
        """The customer's wire record, rendered once at build time (customers are the costliest records
        to render, and a page must stay cheap); callers must not mutate the result."""
        cached = self.customer_records[index]
        if with_website:
            c = self.customers[index]
            slug = (c.company or c.name or "customer").replace(" ", "_")
            return {**cached, "website_url": f"https://{slug.lower()}.example.com" if c.company else ""}
        return cached

    def _render_customer(self, index: int) -> dict[str, Any]:
        c = self.customers[index]
        code, sign = CURRENCIES[c.currency]
        ds = self.data_sources[c.data_sources[0]]
        place = c.place
        slug = (c.company or c.name or "customer").replace(" ", "_")
        return {
            "id": c.id, "uuid": c.uuid, "external_id": c.external_ids[0], "name": c.name, "email": c.email,
            "status": self.customer_status(c),
            "customer-since": format_offset(c.since) if c.since is not None else None,
            "attributes": {"custom": dict(c.custom), "clearbit": {}, "stripe": {}, "tags": list(c.tags)},
            "data_source_uuid": ds.uuid,
            "data_source_uuids": [self.data_sources[d].uuid for d in c.data_sources],
            "external_ids": list(c.external_ids), "company": c.company,
            "country": place[0] if place else None, "state": place[1] if place else None, "city": c.city,
            "zip": place[5] if place else None,
            "lead_created_at": format_millis(c.lead_created_ms) if c.lead_created_ms is not None else None,
            "free_trial_started_at": format_millis(c.trial_ms) if c.trial_ms is not None else None,
            "address": {"country": place[2] if place else None, "state": place[3] if place else None,
                        "city": c.city, "address_zip": place[5] if place else None},
            "mrr": c.mrr, "arr": c.mrr * 12,
            "billing-system-url": f"https://dashboard.stripe.com/customers/{c.external_ids[0]}"
            if ds.system == "Stripe" else None,
            "chartmogul-url": f"https://app.chartmogul.com/#/customers/{c.id}-{slug}",
            "billing-system-type": ds.system, "currency": code, "currency-sign": sign, "owner": c.owner,
        }

    def customer_attributes(self, index: int) -> dict[str, Any]:
        c = self.customers[index]
        return {"tags": list(c.tags), "stripe": {}, "custom": dict(c.custom)}  # no clearbit, as recorded

    def _activity_description(self, kind: int, plan: Plan) -> str:
        verb = ("purchased the", "upgraded the", "downgraded the", "cancelled the", "reactivated the")[kind]
        return f"{verb} {plan.name} plan"

    def activity_record(self, rank: int) -> dict[str, Any]:
        cust = self.act_customer[rank]
        c = self.customers[cust]
        sub = self.subscriptions[self.act_subscription[rank]]
        plan = self.plans[sub.plan]
        kind = self.act_type[rank]
        mrr = self.act_mrr[rank]
        return {
            "description": self._activity_description(kind, plan),
            "activity-mrr-movement": self.act_movement[rank], "activity-mrr": mrr, "activity-arr": mrr * 12,
            "date": format_offset(self.act_date[rank]), "type": ACTIVITY_TYPES[kind],
            "currency": CURRENCIES[c.currency][0], "subscription-external-id": sub.external_id,
            "plan-external-id": plan.external_id, "customer-name": c.name, "customer-uuid": c.uuid,
            "customer-external-id": c.external_ids[0],
            "billing-connector-uuid": self.data_sources[c.data_sources[0]].uuid,
            "uuid": self.activity_uuid(rank),
        }

    def customer_activity_record(self, rank: int) -> dict[str, Any]:
        c = self.customers[self.act_customer[rank]]
        sub = self.subscriptions[self.act_subscription[rank]]
        kind = self.act_type[rank]
        mrr = self.act_mrr[rank]
        code, sign = CURRENCIES[c.currency]
        return {
            "id": self.activity_id(rank), "description": self._activity_description(kind, self.plans[sub.plan]),
            "activity-mrr-movement": self.act_movement[rank], "activity-mrr": mrr, "activity-arr": mrr * 12,
            "date": format_offset(self.act_date[rank]), "type": ACTIVITY_TYPES[kind], "currency": code,
            "currency-sign": sign, "subscription-external-id": sub.external_id,
        }

    def subscription_event_record(self, rank: int) -> dict[str, Any]:
        """Each activity is also the subscription event that caused it."""
        cust = self.act_customer[rank]
        c = self.customers[cust]
        sub = self.subscriptions[self.act_subscription[rank]]
        kind = self.act_type[rank]
        ts = self.act_date[rank]
        cancelled = kind == CHURN
        event_type = "subscription_cancelled" if cancelled else (
            "subscription_start" if kind in (NEW_BIZ, REACTIVATION) else "subscription_updated")
        return {
            "id": 370_000_000 + rank, "data_source_uuid": self.data_sources[c.data_sources[0]].uuid,
            "customer_external_id": c.external_ids[0], "subscription_set_external_id": sub.set_external_id,
            "subscription_external_id": sub.external_id, "plan_external_id": self.plans[sub.plan].external_id,
            "event_date": format_zulu(ts), "effective_date": format_zulu(ts - ts % DAY),
            "event_type": event_type, "external_id": f"evt_{rank}" if rank % 3 == 0 else None, "errors": {},
            "created_at": format_zulu(ts), "updated_at": format_zulu(ts),
            "quantity": None if cancelled else sub.quantity,
            "currency": CURRENCIES[c.currency][0],
            "amount_in_cents": None if cancelled else self.act_mrr[rank],
            "tax_amount_in_cents": None if cancelled else 0, "retracted_event_id": None,
        }

    def subscription_event_view(self, rank: int, with_disabled: bool) -> dict[str, Any]:
        """The event as listed: ``with_disabled=true`` marks every event ``disabled`` true or false."""
        record = self.subscription_event_record(rank)
        if with_disabled:
            record["disabled"] = self.event_disabled(rank)
        return record

    def data_source_record(self, index: int, params: dict[str, str]) -> dict[str, Any]:
        ds = self.data_sources[index]
        record: dict[str, Any] = {"uuid": ds.uuid, "name": ds.name, "system": ds.system,
                                  "created_at": format_millis(ds.created_ms), "status": ds.status}
        if params.get("with_processing_status") == "true":
            members = len(self.customers_by_data_source[index]) if self.customers_by_data_source else 0
            record["processing_status"] = {"processed": members, "failed": 0, "pending": 0}
        if params.get("with_auto_churn_subscription_setting") == "true":
            record["auto_churn_subscription_setting"] = {"enabled": index == 1, "interval": 30}
        if params.get("with_invoice_handling_setting") == "true":
            setting = {"create_subscription_when_invoice_is": "open",
                       "update_subscription_when_invoice_is": "open",
                       "prevent_subscription_for_invoice_voided": True,
                       "prevent_subscription_for_invoice_refunded": False,
                       "prevent_subscription_for_invoice_written_off": True}
            record["invoice_handling_setting"] = {"manual": dict(setting), "automatic": dict(setting)}
        return record

    def plan_record(self, index: int) -> dict[str, Any]:
        p = self.plans[index]
        return {"uuid": p.uuid, "data_source_uuid": self.data_sources[p.data_source].uuid, "name": p.name,
                "interval_count": p.interval_count, "interval_unit": p.interval_unit, "external_id": p.external_id}

    def plan_group_record(self, index: int) -> dict[str, Any]:
        g = self.plan_groups[index]
        return {"name": g.name, "uuid": g.uuid, "plans_count": len(g.plans)}

    def period_end(self, index: int, at: int) -> int:
        """End of the billing period of subscription ``index`` running at ``at``: it renews when ``at`` reaches it."""
        s = self.subscriptions[index]
        plan = self.plans[s.plan]
        cycle = CYCLE_SECONDS[plan.interval_unit] * plan.interval_count
        return s.start + cycle * ((at - s.start) // cycle + 1)

    def customer_subscription_record(self, index: int) -> dict[str, Any]:
        """Metrics-API view of a subscription (``/v1/customers/{uuid}/subscriptions``)."""
        s = self.subscriptions[index]
        plan = self.plans[s.plan]
        code, sign = CURRENCIES[self.customers[s.customer].currency]
        active = s.end is None
        end = s.end if not active else self.period_end(index, self.now)
        mrr = s.mrr  # a cancelled subscription keeps reporting the MRR it had before cancellation
        return {"id": s.id, "external_id": s.external_id, "subscription_set_external_id": s.set_external_id
                or s.external_id, "quantity": s.quantity, "uuid": s.uuid, "mrr": mrr, "arr": mrr * 12,
                "status": "active" if active else "inactive", "plan": plan.name,
                "billing-cycle": plan.interval_unit, "billing-cycle-count": plan.interval_count,
                "start-date": format_offset(s.start), "end-date": format_offset(end), "currency": code,
                "currency-sign": sign}

    def import_subscription_record(self, index: int) -> dict[str, Any]:
        s = self.subscriptions[index]
        plan = self.plans[s.plan]
        return {"external_id": s.external_id, "uuid": f"sub_{s.uuid}",
                "cancellation_dates": [format_millis(s.end * 1000)] if s.end is not None else [],
                "plan_uuid": plan.uuid,
                "data_source_uuid": self.data_sources[self.customers[s.customer].data_sources[0]].uuid}

    def invoice_record(self, index: int, with_customer: bool = True, with_disabled: bool = False,
                       with_edit_history: bool = False) -> dict[str, Any]:
        """The invoice's wire record. The default view is pre-rendered like customers (do not mutate it); the
        per-customer import list omits ``customer_uuid``, as recorded. ``with_disabled`` adds the disabled line
        items and the ``disabled*`` fields, ``with_edit_history`` the ``edit_history_summary``."""
        if with_disabled or with_edit_history:
            record = self._render_invoice(index, with_disabled, with_edit_history)
        else:
            record = self.invoice_records[index]
        if with_customer:
            return record
        return {key: value for key, value in record.items() if key != "customer_uuid"}

    def _disabled_fields(self, disabled_ms: int | None, key: str) -> dict[str, Any]:
        return {"disabled": disabled_ms is not None,
                "disabled_at": format_millis(disabled_ms) if disabled_ms is not None else None,
                "disabled_by": STAFF[int(key[-1], 16) % len(STAFF)] if disabled_ms is not None else None}

    def _render_invoice(self, index: int, with_disabled: bool = False, with_edit_history: bool = False) -> dict[str, Any]:
        v = self.invoices[index]
        s = self.subscriptions[v.subscription]
        plan = self.plans[s.plan]
        code = CURRENCIES[self.customers[v.customer].currency][0]
        date = format_millis(v.date_ms)
        amount = plan.price * s.quantity
        items: list[dict[str, Any]] = [{
            "uuid": f"li_{self._uuid('li', v.uuid, 0)}",
            "external_id": None if v.subscription % 2 else f"li_{v.uuid[4:12]}",
            "type": "subscription", "subscription_uuid": f"sub_{s.uuid}",
            "subscription_external_id": s.external_id, "prorated": False, "proration_type": None,
            "service_period_start": date, "service_period_end": format_millis(v.date_ms + 30 * DAY * 1000),
            "plan_uuid": plan.uuid, "amount_in_cents": amount, "quantity": s.quantity,
            "discount_code": "", "discount_amount_in_cents": 0, "tax_amount_in_cents": 0,
            "transaction_fees_in_cents": 0, "account_code": "", "transaction_fees_currency": None,
            "discount_description": None, "event_order": None, "balance_transfer": None}]
        if v.one_time_item and (with_disabled or not v.one_time_item_disabled):
            items.append({"uuid": f"li_{self._uuid('li', v.uuid, 1)}", "external_id": None, "type": "one_time",
                          "description": "Setup fee ✓" if v.subscription % 2 else None, "amount_in_cents": 4500,
                          "quantity": 1, "discount_code": "", "discount_amount_in_cents": 0,
                          "tax_amount_in_cents": 0, "transaction_fees_in_cents": 0, "account_code": "",
                          "transaction_fees_currency": None, "discount_description": None, "event_order": None})
        if with_disabled:
            item_disabled_ms = [None, v.created_ms + DAY * 1000 if v.one_time_item_disabled else None]
            for item, disabled_ms in zip(items, item_disabled_ms):
                item.update(self._disabled_fields(disabled_ms, item["uuid"]))
        total = amount + (4500 if v.one_time_item and not v.one_time_item_disabled else 0)  # what was paid: enabled items
        transactions = [{"uuid": f"tr_{self._uuid('tr', v.uuid, t)}", "external_id": None,
                         "type": ("payment", "refund")[t], "date": date, "result": "successful",
                         "amount_in_cents": total, "transaction_fees_in_cents": None,
                         "transaction_fees_currency": None} for t in range(v.transactions)]
        record: dict[str, Any] = {"uuid": v.uuid, "external_id": v.external_id, "date": date,
                                  "due_date": format_millis(v.date_ms + 7 * DAY * 1000) if v.has_due_date else None,
                                  "currency": code}
        record["customer_uuid"] = self.customers[v.customer].uuid
        errors = {"due_date": ["must not be before the invoice date"]} if v.invalid else {}
        record.update({"errors": errors, "line_items": items, "transactions": transactions})
        if with_disabled:
            record.update(self._disabled_fields(v.disabled_ms, v.uuid))
        if with_edit_history:
            record["edit_history_summary"] = {
                "edit_count": v.edits, "latest_edit_at": format_millis(v.created_ms + v.edits * DAY * 1000),
            } if v.edits else None
        return record

    def account_record(self, include: Sequence[str] = ()) -> dict[str, Any]:
        """The account; each setting named in ``include`` is added, in the order asked."""
        record: dict[str, Any] = {"name": "Emulated Example Company", "currency": "EUR",
                                  "time_zone": "Europe/Berlin", "week_start_on": "sunday"}
        record.update({name: ACCOUNT_SETTINGS[name] for name in include if name in ACCOUNT_SETTINGS})
        return record

    # ------------------------------------------------------------------ states the 2026 parameters reveal

    def event_disabled(self, rank: int) -> bool:
        """Whether the subscription event of activity ``rank`` was disabled in ChartMogul."""
        return share(self.seed, 4, "evt-off", rank)

    def segment_of(self, customer: int) -> tuple[str | None, str, str | None]:
        """(country code, currency, plan uuid) of a customer: what ``geo``, ``filters`` and ``plans`` select on."""
        c = self.customers[customer]
        plan = self.plans[self.subscriptions[c.subscriptions[0]].plan].uuid if c.subscriptions else None
        return (c.place[0] if c.place else None), CURRENCIES[c.currency][0], plan
