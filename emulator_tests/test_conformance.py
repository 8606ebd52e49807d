"""The emulator's wire format matches the real recordings carried in unit_tests/resource/chartmogul/.

For every endpoint the emulator serves that has recordings, and for every request shape recorded (first
page without ``cursor``, page requested with ``cursor``, legacy ``page=``), the emulator's envelope keys
equal the newest recording's. Every record the emulator can return has only keys and JSON types
(recursively) seen in the recordings of the same record kind.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from chartmogul_emulator import Emulator
from chartmogul_emulator.api import Api
from unit_tests.recorded_bodies import recorded, sources_table

from .client import Client

# Record kinds: endpoints whose records share one shape (list, search and retrieve of the same object).
KINDS = {
    "/v1/customers": "customer", "/v1/customers/search": "customer", "/v1/customers/{uuid}": "customer",
    "/v1/customers/{uuid}/attributes": "attributes", "/v1/activities": "activity",
    "/v1/customers/{uuid}/activities": "customer_activity",
    "/v1/customers/{uuid}/subscriptions": "customer_subscription",
    "/v1/import/customers/{uuid}/subscriptions": "import_subscription",
    "/v1/invoices": "invoice", "/v1/invoices/{uuid}": "invoice", "/v1/import/customers/{uuid}/invoices": "invoice",
    "/v1/plans": "plan", "/v1/plans/{uuid}": "plan", "/v1/plan_groups/{uuid}/plans": "plan",
    "/v1/plan_groups": "plan_group", "/v1/plan_groups/{uuid}": "plan_group",
    "/v1/data_sources": "data_source", "/v1/data_sources/{uuid}": "data_source",
    "/v1/subscription_events": "subscription_event",
    "/v1/contacts": "contact", "/v1/contacts/{uuid}": "contact", "/v1/customers/{uuid}/contacts": "contact",
    "/v1/customer_notes": "note", "/v1/customer_notes/{uuid}": "note",
    "/v1/opportunities": "opportunity", "/v1/opportunities/{uuid}": "opportunity",
    "/v1/tasks": "task", "/v1/tasks/{uuid}": "task", "/v1/account": "account", "/v1/ping": "ping",
}
RECORDS_KEYS = ("entries", "plans", "plan_groups", "invoices", "subscriptions", "subscription_events", "data_sources")
# Served without any recording of its own; its records are checked against the contact kind.
UNRECORDED = {"/v1/customers/{uuid}/contacts"}

# Allowed departures from "seen in a recording", each with its reason.
FREE_FORM_OBJECTS = {"custom"}  # user-defined custom attributes: keys and value types are the account's own
EXTRA_ALLOWED = {
    # reference §7.19 types completed_at str|null; the recordings only contain open tasks
    ("task", ".completed_at", "str"),
}


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "bool", int: "int", float: "float", str: "str", list: "list", dict: "dict"}[type(value)]


def shape(value: Any, path: str = "") -> set[tuple[str, str]]:
    """(path, JSON type) pairs of a value and everything nested in it."""
    pairs = {(path, json_type(value))}
    if isinstance(value, dict) and path.rpartition(".")[2] not in FREE_FORM_OBJECTS:
        for key, item in value.items():
            pairs |= shape(item, f"{path}.{key}")
    elif isinstance(value, list):
        for item in value:
            pairs |= shape(item, path + "[]")
    return pairs


def request_shape(params: dict[str, Any]) -> str:
    if "cursor" in params:
        return "cursor"
    return "page" if "page" in params else "first"


def records_of(template: str, body: Any) -> Iterator[tuple[str, Any]]:
    """(kind, record) pairs of a response body."""
    if template.startswith("/v1/metrics/"):
        name = template.rsplit("/", 1)[1]
        for entry in body["entries"]:
            yield f"metrics:{name}", entry
        yield f"metrics-summary:{name}", body["summary"]
        return
    records_key = next((key for key in RECORDS_KEYS if key in body), None)
    if records_key is None:
        yield KINDS[template], body  # a single object
    else:
        for record in body[records_key]:
            yield KINDS[template], record


def route_table() -> Api:
    """An ``Api`` holding only its route table (no account): enough to resolve paths to templates."""
    api = Api.__new__(Api)
    api.routes = Api._routes(api)
    return api


def load_recordings() -> list[dict[str, Any]]:
    """200 JSON GET recordings with their template, request shape, body and age."""
    api = route_table()
    rows = []
    for line in sources_table().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 9 or not cells[0].startswith("`") or not cells[2].startswith("`GET "):
            continue
        name, status, request = cells[0].strip("`"), cells[1], cells[2].strip("`")[4:]
        if status != "200" or not name.endswith(".json"):
            continue
        url = urlsplit(request)
        resolved = api.resolve(url.path)
        if resolved is None:
            continue  # an endpoint the emulator does not serve (activities export, notes legacy path)
        recorded_at = parsedate_to_datetime(cells[7]).timestamp() if cells[7] else 0.0
        rows.append({"file": name, "template": resolved[0].template,
                     "params": {k: v[-1] for k, v in parse_qs(url.query).items()},
                     "body": recorded(name.removesuffix(".json")), "recorded": recorded_at})
    return rows


RECORDINGS = load_recordings()


def allowed_pairs() -> dict[str, set[tuple[str, str]]]:
    allowed: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for row in RECORDINGS:
        for kind, record in records_of(row["template"], row["body"]):
            allowed[kind] |= shape(record)
    for kind, path, type_name in EXTRA_ALLOWED:
        allowed[kind].add((path, type_name))
    return allowed


def newest_envelopes() -> dict[tuple[str, str], tuple[str, set[str]]]:
    """(template, request shape) -> (file, top-level keys) of the newest list recording."""
    newest: dict[tuple[str, str], dict[str, Any]] = {}
    for row in RECORDINGS:
        body = row["body"]
        if not any(key in body for key in RECORDS_KEYS):
            continue
        key = (row["template"], request_shape(row["params"]))
        if key not in newest or row["recorded"] >= newest[key]["recorded"]:
            newest[key] = row
    return {key: (row["file"], set(row["body"])) for key, row in newest.items()}


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(seed=11, customers=300, activities=3000) as emulator:
        yield emulator


def concrete(template: str, emulator: Emulator) -> tuple[str, dict[str, str]]:
    """A request for ``template`` against the emulator's own data that has at least two records."""
    a = emulator.account
    counts = defaultdict(int)
    for invoice in a.invoices:
        counts[invoice.customer] += 1
    rich = max(range(len(a.customers)), key=lambda i: (len(a.customers[i].subscriptions) >= 2, counts[i],
                                                          len(a.customer_activity_ranks(i))))
    group = max(a.plan_groups, key=lambda g: len(g.plans))
    ids = {"/v1/customers/": a.customers[rich].uuid, "/v1/import/customers/": a.customers[rich].uuid,
           "/v1/plan_groups/": group.uuid, "/v1/plans/": a.plans[0].uuid, "/v1/invoices/": a.invoices[0].uuid,
           "/v1/data_sources/": a.data_sources[0].uuid, "/v1/contacts/": a.contacts[0].key,
           "/v1/customer_notes/": a.notes[0].key, "/v1/opportunities/": a.opportunities[0].key,
           "/v1/tasks/": a.tasks[0].key}
    if template == "/v1/customers/{uuid}/contacts":
        ids["/v1/customers/"] = a.customers[Counter(r.customer for r in a.contacts).most_common(1)[0][0]].uuid
    prefix = template.split("{uuid}")[0]
    path = template.replace("{uuid}", ids.get(prefix, ""))
    params: dict[str, str] = {}
    if template == "/v1/customers/search":
        params["email"] = next(email for email, found in a.customers_by_email.items() if len(found) >= 2)
    if template.startswith("/v1/metrics/"):
        params.update({"start-date": "2022-04-01", "end-date": "2022-05-31", "interval": "month"})
    if template.startswith("/v1/data_sources"):
        params.update({"with_processing_status": "true", "with_auto_churn_subscription_setting": "true",
                       "with_invoice_handling_setting": "true"})
    return path, params


def fetch(client: Client, template: str, emulator: Emulator, request_kind: str) -> Any:
    path, params = concrete(template, emulator)
    if request_kind == "page":
        params.update(page="2", per_page="1")
    elif request_kind == "cursor":
        first = client.get(path, {**params, "per_page": "1"}).json()
        assert first["has_more"], f"{template}: need a second page to compare the cursor page"
        params.update(cursor=first["cursor"], per_page="1")
    reply = client.get(path, params)
    assert reply.status == 200, (template, reply.raw[:300])
    return reply.json()


@pytest.mark.parametrize("template,request_kind", sorted(newest_envelopes()))
def test_envelope_keys_equal_newest_recording(emulator: Emulator, template: str, request_kind: str) -> None:
    fixture, recorded_keys = newest_envelopes()[(template, request_kind)]
    client = Client(emulator.url)
    body = fetch(client, template, emulator, request_kind)
    assert set(body) == recorded_keys, f"{template} ({request_kind}) vs {fixture}"


@pytest.mark.parametrize("template", sorted(KINDS.keys() | {f"/v1/metrics/{m}" for m in (
    "all", "mrr", "arr", "arpa", "asp", "customer-count", "customer-churn-rate", "mrr-churn-rate", "ltv")}))
def test_record_keys_and_types_are_among_recorded(emulator: Emulator, template: str) -> None:
    allowed = allowed_pairs()
    first_page = fetch(Client(emulator.url), template, emulator, "first")
    checked = list(records_of(template, first_page))
    # and every record a complete pagination returns, not only the first page's
    path, params = concrete(template, emulator)
    kind = f"metrics:{template.rsplit('/', 1)[1]}" if template.startswith("/v1/metrics/") else KINDS[template]
    checked += [(kind, record) for record in emulator.truth(path, params)]
    for kind, record in checked:
        unexpected = shape(record) - allowed[kind]
        assert not unexpected, f"{template}: not in any recording of {kind}: {sorted(unexpected)}"
    assert len(checked) >= 2


# What the 2026 read parameters add (reference §7.2, §10), which no recording shows, each with the type the reference
# or ChartMogul's Python client gives it. edit_history_summary's content has no recorded shape: its keys are the
# emulator's own. `errors` maps invoice fields to messages: its keys are field names, its values lists of text.
FULL_READ = {
    "/v1/account": {"include": "churn_recognition,churn_when_zero_mrr,auto_churn_subscription,refund_handling,"
                               "proximate_movement_reclassification"},
    "/v1/invoices": {"with_disabled": "true", "validation_type": "all", "include_edit_histories": "true"},
    "/v1/subscription_events": {"with_disabled": "true"},
}
DISABLED_MARKS = {(".disabled", "bool"), (".disabled_at", "null"), (".disabled_at", "str"), (".disabled_by", "null"),
                  (".disabled_by", "str")}
REVEALED_BY_PARAMETERS = {
    "account": {(".churn_recognition", "str"), (".churn_when_zero_mrr", "bool"), (".auto_churn_subscription", "bool"),
                (".refund_handling", "str"), (".proximate_movement_reclassification", "str")},
    "invoice": DISABLED_MARKS | {(".line_items[]" + path, kind) for path, kind in DISABLED_MARKS} | {
        (".edit_history_summary", "null"), (".edit_history_summary", "dict"),
        (".edit_history_summary.edit_count", "int"), (".edit_history_summary.latest_edit_at", "str"),
        (".errors.due_date", "list"), (".errors.due_date[]", "str")},
    "subscription_event": {(".disabled", "bool")},
}


@pytest.mark.parametrize("template", sorted(FULL_READ))
def test_records_read_with_every_parameter_add_only_what_the_parameters_reveal(emulator: Emulator, template: str) -> None:
    allowed = allowed_pairs()[KINDS[template]]
    records = emulator.truth(template, FULL_READ[template])
    seen = set().union(*(shape(record) for record in records))
    assert seen - allowed == REVEALED_BY_PARAMETERS[KINDS[template]]  # each revealed shape occurs, nothing else


def test_every_recorded_endpoint_is_covered() -> None:
    served = {route.template for route in route_table().routes}
    recorded = {row["template"] for row in RECORDINGS}
    assert recorded <= served
    assert served - recorded == UNRECORDED
    checked_kinds = set(KINDS) | {t for t in served if t.startswith("/v1/metrics/")}
    assert served <= checked_kinds


def test_json_types_distinguish_int_float_and_bool() -> None:
    assert shape({"a": 1, "b": 1.0, "c": True}) == {("", "dict"), (".a", "int"), (".b", "float"), (".c", "bool")}
