"""Each read parameter reveals exactly what ChartMogul reveals with it (reference §7.2, §7.3, §7.11, §7.14, §7.15,
§10), and nothing without it: account settings, data-source settings, disabled and invalid records, edit histories,
metric segments."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import pytest

from chartmogul_emulator import Emulator
from chartmogul_emulator.account import ACCOUNT_SETTINGS

from .client import Client

BASE_ACCOUNT_KEYS = ["name", "currency", "time_zone", "week_start_on"]
DATA_SOURCE_FLAGS = {"with_processing_status": "processing_status",
                     "with_auto_churn_subscription_setting": "auto_churn_subscription_setting",
                     "with_invoice_handling_setting": "invoice_handling_setting"}
DISABLED_FIELDS = ["disabled", "disabled_at", "disabled_by"]
EVERY_INVOICE = {"with_disabled": "true", "validation_type": "all"}


@pytest.fixture(scope="module")
def client(chartmogul_emulator: Emulator) -> Client:
    return Client(chartmogul_emulator.url)


def test_account_settings_come_only_with_include_and_only_those_named(client: Client) -> None:
    plain = client.get("/v1/account").json()
    assert list(plain) == BASE_ACCOUNT_KEYS
    assert client.get("/v1/account", {"include": "refund_handling,churn_when_zero_mrr"}).json() == {
        **plain, "refund_handling": ACCOUNT_SETTINGS["refund_handling"],
        "churn_when_zero_mrr": ACCOUNT_SETTINGS["churn_when_zero_mrr"]}
    every = client.get("/v1/account", {"include": ",".join(ACCOUNT_SETTINGS)}).json()
    assert list(every) == BASE_ACCOUNT_KEYS + list(ACCOUNT_SETTINGS)


@pytest.mark.parametrize("flag", sorted(DATA_SOURCE_FLAGS))
def test_each_data_source_setting_comes_only_with_its_flag(client: Client, flag: str) -> None:
    plain = client.get("/v1/data_sources").json()["data_sources"]
    flagged = client.get("/v1/data_sources", {flag: "true"}).json()["data_sources"]
    assert [set(source) for source in plain] == [{"uuid", "name", "system", "created_at", "status"}] * len(plain)
    assert [set(source) - set(plain[0]) for source in flagged] == [{DATA_SOURCE_FLAGS[flag]}] * len(plain)
    assert client.get("/v1/data_sources", {flag: "false"}).json()["data_sources"] == plain


def test_invoices_list_only_valid_enabled_ones_and_no_disabled_line_item_by_default(chartmogul_emulator: Emulator) -> None:
    a = chartmogul_emulator.account
    listed = chartmogul_emulator.truth("/v1/invoices")
    expected = [v.uuid for v in a.invoices if v.disabled_ms is None and not v.invalid]
    assert [invoice["uuid"] for invoice in listed] == expected
    assert len(expected) < len(a.invoices)  # the account has disabled and invalid invoices to leave out
    assert all(invoice["errors"] == {} and "disabled" not in invoice and "edit_history_summary" not in invoice
               for invoice in listed)
    assert all("disabled" not in item for invoice in listed for item in invoice["line_items"])
    with_items = {v.uuid: v for v in a.invoices if v.one_time_item_disabled}
    assert with_items and all(len(i["line_items"]) == 1 for i in listed if i["uuid"] in with_items)


def test_with_disabled_lists_disabled_invoices_and_line_items_and_marks_every_record(chartmogul_emulator: Emulator) -> None:
    a = chartmogul_emulator.account
    listed = chartmogul_emulator.truth("/v1/invoices", {"with_disabled": "true"})
    state = {v.uuid: v for v in a.invoices}
    assert [i["uuid"] for i in listed] == [v.uuid for v in a.invoices if not v.invalid]
    assert {i["uuid"] for i in listed if i["disabled"]} == {v.uuid for v in a.invoices if v.disabled_ms and not v.invalid}
    for invoice in listed:
        assert list(invoice)[-3:] == DISABLED_FIELDS
        assert (invoice["disabled_at"] is None) == (invoice["disabled_by"] is None) == (not invoice["disabled"])
        items = invoice["line_items"]
        assert len(items) == 1 + state[invoice["uuid"]].one_time_item
        assert [item["disabled"] for item in items[1:]] == [state[invoice["uuid"]].one_time_item_disabled] * (len(items) - 1)
        assert all(list(item)[-3:] == DISABLED_FIELDS for item in items)


@pytest.mark.parametrize("validation_type, invalid_ones", [("valid", False), ("invalid", True)])
def test_validation_type_lists_the_valid_or_the_invalid_invoices(
    chartmogul_emulator: Emulator, validation_type: str, invalid_ones: bool
) -> None:
    listed = chartmogul_emulator.truth("/v1/invoices", {"validation_type": validation_type, "with_disabled": "true"})
    assert listed and all(bool(invoice["errors"]) == invalid_ones for invoice in listed)


def test_validation_type_all_lists_every_invoice_and_the_errors_say_why(chartmogul_emulator: Emulator) -> None:
    a = chartmogul_emulator.account
    listed = chartmogul_emulator.truth("/v1/invoices", EVERY_INVOICE)
    assert [i["uuid"] for i in listed] == [v.uuid for v in a.invoices]
    assert [i["uuid"] for i in listed if i["errors"]] == [v.uuid for v in a.invoices if v.invalid] != []
    assert {key for i in listed for key in i["errors"]} == {"due_date"}


def test_an_unknown_validation_type_is_a_400(client: Client) -> None:
    reply = client.get("/v1/invoices", {"validation_type": "some"})
    assert (reply.status, reply.json()) == (400, {"code": 400, "message": 'Parameter "validation_type" is invalid',
                                                  "param": "validation_type"})


def test_edit_history_summary_comes_only_with_include_edit_histories(chartmogul_emulator: Emulator) -> None:
    a = chartmogul_emulator.account
    listed = chartmogul_emulator.truth("/v1/invoices", {**EVERY_INVOICE, "include_edit_histories": "true"})
    assert all(list(i)[-1] == "edit_history_summary" for i in listed)
    assert [i["uuid"] for i in listed if i["edit_history_summary"]] == [v.uuid for v in a.invoices if v.edits] != []
    assert all("edit_history_summary" not in i for i in chartmogul_emulator.truth("/v1/invoices", EVERY_INVOICE))


def test_the_pages_of_a_flagged_invoice_list_follow_their_own_cursor(client: Client, chartmogul_emulator: Emulator) -> None:
    records, _ = client.walk("/v1/invoices", EVERY_INVOICE, per_page=40)
    assert records == chartmogul_emulator.truth("/v1/invoices", EVERY_INVOICE)


def test_a_retrieved_invoice_shows_what_its_parameters_ask_for(client: Client, chartmogul_emulator: Emulator) -> None:
    uuid = chartmogul_emulator.account.invoices[0].uuid
    assert "disabled" not in client.get(f"/v1/invoices/{uuid}").json()
    assert client.get(f"/v1/invoices/{uuid}", {"with_disabled": "true"}).json()["disabled"] in (True, False)


def test_disabled_subscription_events_are_listed_and_marked_only_with_with_disabled(chartmogul_emulator: Emulator) -> None:
    a = chartmogul_emulator.account
    every = chartmogul_emulator.truth("/v1/subscription_events", {"with_disabled": "true"})
    plain = chartmogul_emulator.truth("/v1/subscription_events")
    assert len(every) == a.activity_count and all(list(event)[-1] == "disabled" for event in every)
    disabled = {event["id"] for event in every if event["disabled"]}
    assert disabled and {event["id"] for event in plain} == {event["id"] for event in every} - disabled
    assert [event["id"] for event in plain] == [event["id"] for event in every if not event["disabled"]]
    assert all("disabled" not in event for event in plain)
    one = a.customers[a.act_customer[next(r for r in range(a.activity_count) if a.event_disabled(r))]]
    of_one = {"customer_uuid": one.uuid}
    assert len(chartmogul_emulator.truth("/v1/subscription_events", of_one)) < \
        len(chartmogul_emulator.truth("/v1/subscription_events", {**of_one, "with_disabled": "true"}))


# ---------------------------------------------------------------- metric segments

PERIOD = {"start-date": "2021-01-01", "end-date": "2023-12-31", "interval": "quarter"}


def epoch(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()


def customer_counts(chartmogul_emulator: Emulator, wanted) -> list[int]:
    """Customers with MRR > 0 at each bucket end, among the customers `wanted` selects: from the activities and the
    customers' records, independently of the metrics code."""
    customers = {c["uuid"]: c for c in chartmogul_emulator.truth("/v1/customers")}
    movements: list[tuple[float, str, int]] = [
        (epoch(a["date"]), a["customer-uuid"], a["activity-mrr-movement"])
        for a in chartmogul_emulator.truth("/v1/activities") if wanted(customers[a["customer-uuid"]])]
    counts = []
    for entry in chartmogul_emulator.truth("/v1/metrics/customer-count", PERIOD):
        moment = epoch(entry["date"] + "T23:59:59+00:00")
        mrr: dict[str, int] = defaultdict(int)
        for when, uuid, movement in movements:
            if when <= moment:
                mrr[uuid] += movement
        counts.append(sum(1 for value in mrr.values() if value > 0))
    return counts


def segment_counts(chartmogul_emulator: Emulator, **segment: str) -> list[int]:
    return [e["customers"] for e in chartmogul_emulator.truth("/v1/metrics/customer-count", {**PERIOD, **segment})]


@pytest.mark.parametrize("segment, wanted", [
    ({"geo": "US,DE"}, lambda c: c["country"] in ("US", "DE")),
    ({"geo": "GB"}, lambda c: c["country"] == "GB"),
    ({"filters": "currency~ANY~'USD'"}, lambda c: c["currency"] == "USD"),
    ({"filters": "currency~ANY~'USD','GBP'"}, lambda c: c["currency"] in ("USD", "GBP")),
    ({"filters": "country~ANY~'FR' AND currency~ANY~'EUR'"}, lambda c: c["country"] == "FR" and c["currency"] == "EUR"),
    ({"geo": "US", "filters": "currency~ANY~'EUR'"}, lambda c: c["country"] == "US" and c["currency"] == "EUR"),
], ids=["geo-two", "geo-one", "filter-one-currency", "filter-two-currencies", "filter-and", "geo-and-filter"])
def test_a_segment_counts_the_customers_it_selects(chartmogul_emulator: Emulator, segment, wanted) -> None:
    counts = segment_counts(chartmogul_emulator, **segment)
    assert counts == customer_counts(chartmogul_emulator, wanted)
    assert 0 < max(counts) < max(segment_counts(chartmogul_emulator))


def test_plans_by_name_or_uuid_partition_the_account(chartmogul_emulator: Emulator) -> None:
    plans = chartmogul_emulator.account.plans
    by_name = [segment_counts(chartmogul_emulator, plans=plan.name) for plan in plans]
    assert by_name == [segment_counts(chartmogul_emulator, plans=plan.uuid) for plan in plans]
    assert by_name == [segment_counts(chartmogul_emulator, filters=f"plan~ANY~'{plan.uuid}'") for plan in plans]
    totals = defaultdict(int)
    for counts in by_name:
        for i, count in enumerate(counts):
            totals[i] += count
    assert [totals[i] for i in range(len(totals))] == segment_counts(chartmogul_emulator)  # one plan per customer
    both = f"{plans[0].name},{plans[1].uuid}"
    assert segment_counts(chartmogul_emulator, plans=both) == [x + y for x, y in zip(by_name[0], by_name[1])]


@pytest.mark.parametrize("interval", ["month", "quarter"])
def test_the_mrr_and_movements_of_each_plan_add_up_to_the_accounts_on_every_date(chartmogul_emulator: Emulator,
                                                                                 interval: str) -> None:
    period = {**PERIOD, "interval": interval}
    keys = ["mrr", "mrr-new-business", "mrr-expansion", "mrr-contraction", "mrr-churn", "mrr-reactivation"]
    whole = chartmogul_emulator.truth("/v1/metrics/mrr", period)
    by_plan = [chartmogul_emulator.truth("/v1/metrics/mrr", {**period, "plans": plan.name})
               for plan in chartmogul_emulator.account.plans]
    for i, entry in enumerate(whole):
        assert {key: sum(series[i][key] for series in by_plan) for key in keys} == {key: entry[key] for key in keys}
        assert all(series[i]["date"] == entry["date"] for series in by_plan)
    assert sum(1 for series in by_plan if any(e["mrr"] for e in series)) > 1 and max(e["mrr"] for e in whole) > 0


def test_every_metric_endpoint_honours_the_segment(client: Client) -> None:
    for metric in ("all", "mrr", "arr", "customer-count"):
        whole = client.get(f"/v1/metrics/{metric}", PERIOD).json()
        part = client.get(f"/v1/metrics/{metric}", {**PERIOD, "geo": "JP"}).json()
        assert [e["date"] for e in part["entries"]] == [e["date"] for e in whole["entries"]]
        assert part["entries"] != whole["entries"], metric


@pytest.mark.parametrize("segment, status, message, param", [
    ({"filters": "currency = 'USD'"}, 400, "Invalid filter expression: \"currency = 'USD'\"", "filters"),
    ({"filters": "colour~ANY~'red'"}, 422, "Unknown filter field: 'colour'", "filters"),
    ({"filters": "currency~ANY~'USD' OR country~ANY~'US'"}, 400,
     "Invalid filter expression: \"currency~ANY~'USD' OR country~ANY~'US'\"", "filters"),
    ({"geo": "USA"}, 400, 'Parameter "geo" is invalid', "geo"),
    ({"plans": "No such plan"}, 422, 'Plan "No such plan" does not exist', "plans"),
], ids=["not-cfl", "unknown-field", "or-not-modelled", "geo-three-letters", "unknown-plan"])
def test_a_segment_the_emulator_cannot_read_is_refused_with_a_recorded_style_body(
    client: Client, segment, status: int, message: str, param: str
) -> None:
    reply = client.get("/v1/metrics/customer-count", {**PERIOD, **segment})
    assert (reply.status, reply.json()) == (status, {"code": status, "message": message, "param": param})
