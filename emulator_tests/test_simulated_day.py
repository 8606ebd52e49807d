"""A simulated day (``POST /_emulator/day``): the API serves exactly what the day changed, and nothing else moves.

A day gives a share of the customers one activity each (and their subscriptions the change it records) and renews,
without an activity, every active subscription whose billing period ends that day. Each test compares the whole
ground truth of every endpoint before and after the day; the only differences allowed are the ones listed here.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Iterator

import pytest

from chartmogul_emulator import Account, Emulator
from chartmogul_emulator.account import CYCLE_SECONDS

from .client import Client
from .test_conformance import KINDS, allowed_pairs, shape
from .test_pagination import CURSOR_LISTS

HISTORY_END = dt.datetime(2025, 12, 31, 23, 59, 59, tzinfo=dt.timezone.utc).timestamp()
DAY = 86400
SHARE = 0.2  # of 150 customers: 30 a day, enough for every kind of change to occur
# Lists whose records no day touches.
UNTOUCHED_LISTS = ("/v1/plans", "/v1/plan_groups", "/v1/contacts", "/v1/customer_notes",
                   "/v1/opportunities", "/v1/tasks", "/v1/data_sources", "/v1/account")
PER_CUSTOMER = ("/v1/customers/{uuid}/subscriptions", "/v1/customers/{uuid}/activities",
                "/v1/import/customers/{uuid}/subscriptions", "/v1/import/customers/{uuid}/invoices",
                "/v1/customers/{uuid}/contacts", "/v1/customers/{uuid}/attributes")
ALL_INVOICES = {"with_disabled": "true", "validation_type": "all"}
HISTORY_METRICS = {"start-date": "2019-01-01", "end-date": "2025-12-31", "interval": "month"}


def epoch(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()


def snapshot(emulator: Emulator) -> dict[str, Any]:
    """Every endpoint's ground truth, per customer too."""
    lists = UNTOUCHED_LISTS + ("/v1/customers", "/v1/activities", "/v1/subscription_events", "/v1/invoices")
    state: dict[str, Any] = {path: emulator.truth(path) for path in lists}
    state["history metrics"] = emulator.truth("/v1/metrics/all", HISTORY_METRICS)
    state["all subscription events"] = emulator.truth("/v1/subscription_events", {"with_disabled": "true"})
    state["all invoices"] = emulator.truth("/v1/invoices", ALL_INVOICES)
    for customer in emulator.account.customers:
        for template in PER_CUSTOMER:
            state[template, customer.uuid] = emulator.truth(template.replace("{uuid}", customer.uuid))
    return state


def post_day(emulator: Emulator, **params: Any) -> tuple[int, Any]:
    reply = Client(emulator.url).request("POST", "/_emulator/day", params)
    return reply.status, reply.json()


@pytest.fixture
def emulator(chartmogul_emulator_factory) -> Emulator:
    return chartmogul_emulator_factory(seed=5, customers=150, activities=1500)


@pytest.fixture
def one_day(emulator: Emulator) -> Iterator[tuple[dict, dict, dict]]:
    """(state before, the day's ground truth, state after) of one day served over HTTP."""
    before = snapshot(emulator)
    status, day = post_day(emulator, share=SHARE)
    assert status == 200, day
    yield before, day, snapshot(emulator)


def test_activities_gain_exactly_the_days_activities_dated_within_it(emulator: Emulator, one_day) -> None:
    before, day, after = one_day
    old = before["/v1/activities"]
    served = Client(emulator.url).walk("/v1/activities")[0]
    assert served == after["/v1/activities"]
    assert served[:len(old)] == old  # earlier activities keep their place and UUIDs
    new = served[len(old):]
    assert [a["uuid"] for a in new] == day["activities"] and len(new) == 30
    assert day["start"] == "2026-01-01T00:00:00+00:00" and day["end"] == "2026-01-01T23:59:59+00:00"
    assert all(HISTORY_END < epoch(a["date"]) <= HISTORY_END + DAY for a in new)
    assert [a["date"] for a in new] == sorted(a["date"] for a in new)
    assert sorted({a["customer-uuid"] for a in new}) == sorted(day["customers_with_activities"])
    assert {a["type"] for a in new} == {"new_biz", "expansion", "contraction", "churn", "reactivation"}


@pytest.mark.parametrize("template", CURSOR_LISTS)
def test_after_a_day_a_cursor_walk_returns_the_new_truth_once_each(emulator: Emulator, template: str) -> None:
    _, day = post_day(emulator, share=SHARE)
    group = max(emulator.account.plan_groups, key=lambda g: len(g.plans)).uuid
    # a customer the day changed, with something to list there
    path, truth = next((path, truth) for uuid in day["customers_with_activities"]
                       for path in [template.replace("{uuid}", group if "plan_groups/" in template else uuid)]
                       for truth in [emulator.truth(path)] if truth)
    records, _ = Client(emulator.url).walk(path, per_page=max(1, len(truth) // 5))
    assert records == truth and truth


def test_a_cursor_kept_from_before_the_day_resumes_with_exactly_the_days_activities(emulator: Emulator) -> None:
    client = Client(emulator.url)
    last = client.walk("/v1/activities")[0][-1]["uuid"]
    _, day = post_day(emulator, share=SHARE)
    resumed = client.walk("/v1/activities", {"start-after": last}, style="start-after")[0]
    assert [a["uuid"] for a in resumed] == day["activities"]


def test_subscription_events_gain_exactly_one_event_per_new_activity_newest_first(emulator: Emulator, one_day) -> None:
    before, day, after = one_day
    old, new = before["all subscription events"], after["all subscription events"]
    added = new[:len(new) - len(old)]
    assert new[len(added):] == old and len(added) == len(day["activities"])
    enabled = [e for e in added if not e["disabled"]]  # disabled ones are listed only with with_disabled
    assert after["/v1/subscription_events"] == [{k: v for k, v in e.items() if k != "disabled"} for e in enabled] + \
        before["/v1/subscription_events"]
    assert [e["event_date"] for e in added] == sorted((e["event_date"] for e in added), reverse=True)
    assert all("2026-01-01T00:00:00Z" <= e["event_date"] <= "2026-01-01T23:59:59Z" for e in added)
    meta = Client(emulator.url).get("/v1/subscription_events").json()["meta"]
    assert meta["before_key"] == "2026-01-01T23:59:59.000Z"  # the request's time: the account's clock


def test_invoices_gain_exactly_the_invoices_of_the_days_new_subscriptions(emulator: Emulator, one_day) -> None:
    before, day, after = one_day
    new = [v for v in after["all invoices"] if v["uuid"] in day["invoices"]]
    assert [v for v in after["all invoices"] if v["uuid"] not in day["invoices"]] == before["all invoices"]
    assert len(new) == len(day["invoices"]) >= 5  # every lead signing up gets one, for its first subscription
    assert [v["uuid"] for v in after["/v1/invoices"] if v["uuid"] not in day["invoices"]] == \
        [v["uuid"] for v in before["/v1/invoices"]]
    started = {s["uuid"]: s for uuid in day["customers_with_activities"]
               for s in after["/v1/customers/{uuid}/subscriptions", uuid] if s["start-date"].startswith("2026-01-01")}
    by_external_id = {s["external_id"]: s for s in started.values()}
    listed = {v["uuid"] for v in after["/v1/invoices"]}  # enabled and valid ones
    for invoice in new:
        assert invoice["customer_uuid"] in day["customers_with_activities"]
        subscription = by_external_id[invoice["line_items"][0]["subscription_external_id"]]
        assert invoice["date"][:19] == subscription["start-date"][:19]
        imported = after["/v1/import/customers/{uuid}/invoices", invoice["customer_uuid"]]
        assert (invoice["uuid"] in {v["uuid"] for v in imported}) == (invoice["uuid"] in listed)
    assert listed & set(day["invoices"])


def test_customers_without_a_change_are_served_exactly_as_before(emulator: Emulator, one_day) -> None:
    before, day, after = one_day
    changed = set(day["customers_with_activities"])
    for customer in emulator.account.customers:
        for template in PER_CUSTOMER:
            key = (template, customer.uuid)
            if customer.uuid in changed:
                continue
            if template == "/v1/customers/{uuid}/subscriptions" and customer.uuid in day["customers_renewed_only"]:
                continue  # checked by the renewal test
            assert after[key] == before[key], key
    unchanged = [c for c in before["/v1/customers"] if c["uuid"] not in changed]
    assert [c for c in after["/v1/customers"] if c["uuid"] not in changed] == unchanged
    assert len(unchanged) == 120
    # nobody moves in the list: a lead that signed up keeps its place among the leads
    assert [c["uuid"] for c in after["/v1/customers"]] == [c["uuid"] for c in before["/v1/customers"]]


def test_renewals_move_end_date_by_one_billing_cycle_and_change_nothing_else(emulator: Emulator, one_day) -> None:
    before, day, after = one_day
    cycle = {p.name: CYCLE_SECONDS[p.interval_unit] * p.interval_count for p in emulator.account.plans}
    renewed = set(day["renewed_subscriptions"])
    renewed_only = set(day["customers_renewed_only"])
    assert renewed_only and not renewed_only & set(day["customers_with_activities"])
    seen = set()
    for uuid in day["customers_renewed_only"]:
        key = ("/v1/customers/{uuid}/subscriptions", uuid)
        assert len(after[key]) == len(before[key])
        for old, new in zip(before[key], after[key]):
            if new["uuid"] in renewed:
                seen.add(new["uuid"])
                assert HISTORY_END < epoch(old["end-date"]) <= HISTORY_END + DAY and new["status"] == "active"
                assert epoch(new["end-date"]) == epoch(old["end-date"]) + cycle[new["plan"]]
                new = {**new, "end-date": old["end-date"]}
            assert new == old
    # every subscription active before the day whose period ended in it renewed, unless its customer churned
    subscriptions = ("/v1/customers/{uuid}/subscriptions",)
    due = {s["uuid"] for c in emulator.account.customers for s in before[subscriptions + (c.uuid,)]
           if s["status"] == "active" and epoch(s["end-date"]) <= HISTORY_END + DAY}
    of_changed = {s["uuid"]: s for uuid in day["customers_with_activities"] for s in after[subscriptions + (uuid,)]}
    assert renewed == due - {u for u, s in of_changed.items() if s["status"] == "inactive"}
    assert seen == renewed - set(of_changed) and seen


def test_a_changed_customers_subscriptions_and_record_follow_its_activity(emulator: Emulator, one_day) -> None:
    before, day, after = one_day
    activities = {a["customer-uuid"]: a for a in after["/v1/activities"][len(before["/v1/activities"]):]}
    customers_before = {c["uuid"]: c for c in before["/v1/customers"]}
    customers_after = {c["uuid"]: c for c in after["/v1/customers"]}
    for uuid in day["customers_with_activities"]:
        activity, old, new = activities[uuid], customers_before[uuid], customers_after[uuid]
        subs_before = {s["uuid"]: s for s in before["/v1/customers/{uuid}/subscriptions", uuid]}
        subs_after = after["/v1/customers/{uuid}/subscriptions", uuid]
        assert new["mrr"] == activity["activity-mrr"] == old["mrr"] + activity["activity-mrr-movement"]
        if activity["type"] == "churn":
            assert new["status"] == "Cancelled"
        else:  # a lead or a cancelled customer becomes active (or past due: a flag of its own)
            assert new["status"] in ("Active", "Past Due")
            assert new["status"] == old["status"] or old["status"] not in ("Active", "Past Due")
        assert sum(s["mrr"] for s in subs_after if s["status"] == "active") == new["mrr"]
        assert after["/v1/customers/{uuid}/activities", uuid][:-1] == before["/v1/customers/{uuid}/activities", uuid]
        assert after["/v1/customers/{uuid}/activities", uuid][-1]["date"] == activity["date"]
        added = [s for s in subs_after if s["uuid"] not in subs_before]
        if activity["type"] in ("new_biz", "reactivation"):
            assert len(added) == 1 and added[0]["start-date"] == activity["date"]
        if activity["type"] == "new_biz":
            assert old["customer-since"] is None and new["customer-since"] == activity["date"]  # a lead signed up
        else:
            assert new["customer-since"] == old["customer-since"]
        if activity["type"] == "churn":
            assert not added and all(s["status"] == "inactive" for s in subs_after)
            assert {s["uuid"] for s in subs_after if s["end-date"] == activity["date"]} == \
                {u for u, s in subs_before.items() if s["status"] == "active"}
        assert {key: value for key, value in new.items() if key not in ("mrr", "arr", "status", "customer-since")} == \
            {key: value for key, value in old.items() if key not in ("mrr", "arr", "status", "customer-since")}


def test_untouched_lists_and_the_history_metrics_are_exactly_as_before(one_day) -> None:
    before, _, after = one_day
    for path in UNTOUCHED_LISTS + ("history metrics",):
        assert after[path] == before[path], path


def test_the_days_metrics_add_the_days_movements(emulator: Emulator, one_day) -> None:
    before, day, after = one_day
    new = after["/v1/activities"][len(before["/v1/activities"]):]
    entries = emulator.truth("/v1/metrics/mrr", {"start-date": "2025-12-31", "end-date": "2026-01-01",
                                                  "interval": "day"})
    assert entries[1]["mrr"] - entries[0]["mrr"] == sum(a["activity-mrr-movement"] for a in new)
    assert entries[1]["mrr-churn"] == sum(a["activity-mrr-movement"] for a in new if a["type"] == "churn")


def test_new_records_have_only_recorded_shapes(emulator: Emulator, one_day) -> None:
    _, day, after = one_day
    allowed = allowed_pairs()
    checked = [("activity", a) for a in after["/v1/activities"] if a["uuid"] in day["activities"]]
    checked += [("invoice", v) for v in after["/v1/invoices"] if v["uuid"] in day["invoices"]]
    checked += [("customer", c) for c in after["/v1/customers"] if c["uuid"] in day["customers_with_activities"]]
    for uuid in day["customers_with_activities"]:
        for template in PER_CUSTOMER[:3]:
            checked += [(KINDS[template], record) for record in after[template, uuid]]
    checked += [("subscription_event", {k: v for k, v in e.items() if k != "disabled"})
                for e in after["all subscription events"][:len(day["activities"])]]
    for kind, record in checked:
        assert not shape(record) - allowed[kind], (kind, record)
    assert len(checked) > 100


def test_same_seed_and_day_give_the_same_day_and_another_seed_another() -> None:
    def days(seed: int | None) -> list[str]:
        with Emulator(seed=5, customers=150, activities=1500) as emulator:
            return [json.dumps([emulator.simulate_day(SHARE, seed), emulator.truth("/v1/activities")[-30:]])
                    for _ in range(2)]
    first = days(None)
    assert days(None) == first and days(5) == first  # the default seed is the account's
    other = days(6)
    assert other[0] != first[0] and other[1] != first[1]
    assert first[0] != first[1]  # the second day is another day, not the first again


def test_several_days_in_a_row_move_the_clock_a_day_each(emulator: Emulator) -> None:
    starts, count, answers = [], len(emulator.truth("/v1/activities")), []
    for _ in range(3):
        status, day = post_day(emulator, share=0.05)
        assert status == 200
        answers.append(day)
        starts.append(day["start"])
        served = Client(emulator.url).walk("/v1/activities")[0]
        assert [a["uuid"] for a in served[count:]] == day["activities"]
        assert all(day["start"] <= a["date"] <= day["end"] for a in served[count:])
        count = len(served)
    assert starts == ["2026-01-01T00:00:00+00:00", "2026-01-02T00:00:00+00:00", "2026-01-03T00:00:00+00:00"]
    assert Client(emulator.url).get("/_emulator/days").json() == {"days": answers}  # the emulator keeps them
    dates = [a["date"] for a in emulator.truth("/v1/activities")]
    assert dates == sorted(dates)


def test_share_zero_renews_only_and_a_bad_share_is_refused_naming_it(emulator: Emulator) -> None:
    before = emulator.truth("/v1/activities")
    status, day = post_day(emulator, share=0)
    assert status == 200 and day["activities"] == [] and day["customers_with_activities"] == []
    assert day["renewed_subscriptions"] and emulator.truth("/v1/activities") == before
    assert post_day(emulator, share=2) == (400, {"code": 400, "message": "day: share must be between 0 and 1, got 2.0",
                                                 "param": None})
    status, body = post_day(emulator, share="lots")
    assert status == 400 and body["message"] == "day: could not convert string to float: 'lots'"


def test_a_day_on_an_account_without_customers_changes_nothing() -> None:
    account = Account.build(3, 0, 0)
    day = account.simulate_day(0.5)
    assert (day.activity_keys, day.customers_with_activities, day.renewed_subscriptions) == (range(0, 0), (), ())


def test_a_day_can_back_date_some_changes_inserting_their_activities_by_date_with_every_uuid_kept(emulator: Emulator) -> None:
    before = emulator.truth("/v1/activities")
    status, day = post_day(emulator, share=0.05, backdated=2, backdated_days=10)
    assert status == 200
    after = emulator.truth("/v1/activities")
    by_uuid = {a["uuid"]: a for a in after}
    assert [a["date"] for a in after] == sorted(a["date"] for a in after)  # still in date order
    assert {a["uuid"] for a in after} == {a["uuid"] for a in before} | set(day["activities"])  # nothing lost, nothing renamed
    assert [by_uuid[a["uuid"]] for a in before] == before  # every earlier activity as it was
    backdated = [by_uuid[u] for u in day["activities"] if by_uuid[u]["date"] < day["start"]]
    assert len(backdated) == 2 and len(day["activities"]) == 8
    for activity in backdated:  # dated 10 days before the day, after the customer's earlier activities
        assert "2025-12-22T00:00:00+00:00" <= activity["date"] <= "2025-12-23T00:00:00+00:00"
        assert activity["customer-uuid"] in day["customers_with_activities"]
        assert all(a["date"] < activity["date"] for a in before if a["customer-uuid"] == activity["customer-uuid"])
    served = Client(emulator.url).walk("/v1/activities")[0]  # walked page by page through the cursors
    assert served == after
    assert Client(emulator.url).get("/_emulator/days").json() == {"days": [day]}
