"""Complete walks of every paginated endpoint return exactly the ground truth, in order, once each."""

from __future__ import annotations

import pytest

from chartmogul_emulator import Emulator

from .client import Client

PRIMARY_KEY = {"/v1/tasks": "task_uuid", "/v1/customers/{uuid}/activities": "id",
               "/v1/subscription_events": "id", "/v1/customers/{uuid}/subscriptions": "id"}
CURSOR_LISTS = ("/v1/customers", "/v1/activities", "/v1/invoices", "/v1/subscription_events", "/v1/contacts",
                "/v1/customer_notes", "/v1/opportunities", "/v1/tasks", "/v1/plans", "/v1/plan_groups",
                "/v1/customers/{uuid}/activities", "/v1/customers/{uuid}/subscriptions",
                "/v1/customers/{uuid}/contacts", "/v1/import/customers/{uuid}/subscriptions",
                "/v1/import/customers/{uuid}/invoices", "/v1/plan_groups/{uuid}/plans")
LEGACY_PAGE_LISTS = ("/v1/customers", "/v1/plans", "/v1/plan_groups", "/v1/invoices",
                     "/v1/import/customers/{uuid}/subscriptions", "/v1/import/customers/{uuid}/invoices",
                     "/v1/plan_groups/{uuid}/plans")


def concrete(template: str, emulator: Emulator) -> str:
    a = emulator.account
    busiest = max(range(len(a.customers)), key=lambda i: len(a.customers[i].subscriptions))
    group = max(a.plan_groups, key=lambda g: len(g.plans))
    uuid = group.uuid if template.startswith("/v1/plan_groups/") else a.customers[busiest].uuid
    return template.replace("{uuid}", uuid)


def key_of(template: str, record: dict) -> object:
    return record[PRIMARY_KEY.get(template, "uuid")]


@pytest.mark.parametrize("template", CURSOR_LISTS)
def test_cursor_walk_returns_truth_once_each(chartmogul_emulator: Emulator, template: str) -> None:
    path = concrete(template, chartmogul_emulator)
    truth = chartmogul_emulator.truth(path)
    per_page = max(1, len(truth) // 5)  # several pages
    records, bodies = Client(chartmogul_emulator.url).walk(path, per_page=per_page)
    assert records == truth
    keys = [key_of(template, r) for r in records]
    assert len(keys) == len(set(keys)), "duplicates"
    assert len(bodies) >= 2 or len(truth) <= per_page
    assert bodies[-1]["has_more"] is False and bodies[-1]["cursor"] is not None


@pytest.mark.parametrize("template", LEGACY_PAGE_LISTS)
def test_legacy_page_walk_returns_truth(chartmogul_emulator: Emulator, template: str) -> None:
    path = concrete(template, chartmogul_emulator)
    truth = chartmogul_emulator.truth(path)
    records, bodies = Client(chartmogul_emulator.url).walk(path, style="page", per_page=max(1, len(truth) // 4))
    assert records == truth
    assert [b["current_page"] for b in bodies] == list(range(1, len(bodies) + 1))


def test_activities_start_after_walk_returns_truth(chartmogul_emulator: Emulator) -> None:
    truth = chartmogul_emulator.truth("/v1/activities", {"start-date": "2021-01-01T00:00:00Z"})
    records, _ = Client(chartmogul_emulator.url).walk(
        "/v1/activities", {"start-date": "2021-01-01T00:00:00Z"}, style="start-after", per_page=97)
    assert records == truth and len(truth) > 97


def test_activities_cursor_is_the_bare_uuid_of_the_last_entry(chartmogul_emulator: Emulator) -> None:
    body = Client(chartmogul_emulator.url).get("/v1/activities", {"per_page": 3}).json()
    assert body["cursor"] == body["entries"][-1]["uuid"]


def test_empty_list_has_null_cursor_and_legacy_keys(chartmogul_emulator: Emulator) -> None:
    body = Client(chartmogul_emulator.url).get("/v1/customers", {"external_id": "unknown"}).json()
    assert body == {"entries": [], "current_page": 1, "total_pages": 1, "has_more": False, "per_page": 200,
                    "page": 1, "cursor": None}


def test_per_page_above_200_is_treated_as_200(chartmogul_emulator: Emulator) -> None:
    body = Client(chartmogul_emulator.url).get("/v1/activities", {"per_page": 5000}).json()
    assert len(body["entries"]) == 200 and body["per_page"] == 200 and body["has_more"] is True


def test_default_page_size_is_200(chartmogul_emulator: Emulator) -> None:
    body = Client(chartmogul_emulator.url).get("/v1/activities").json()
    assert len(body["entries"]) == 200


def test_cursor_page_drops_legacy_keys(chartmogul_emulator: Emulator) -> None:
    client = Client(chartmogul_emulator.url)
    first = client.get("/v1/customers", {"per_page": 2}).json()
    second = client.get("/v1/customers", {"per_page": 2, "cursor": first["cursor"]}).json()
    assert {"current_page", "total_pages", "page", "per_page"} <= set(first)
    assert set(second) == {"entries", "cursor", "has_more"}


def test_cursor_is_position_independent_across_emulator_instances(chartmogul_emulator: Emulator) -> None:
    """A cursor names a record, so another emulator of the same account resumes at the same place."""
    body = Client(chartmogul_emulator.url).get("/v1/invoices", {"per_page": 10}).json()
    with Emulator(seed=7, customers=200, activities=2000) as twin:
        resumed = Client(twin.url).get("/v1/invoices", {"per_page": 10, "cursor": body["cursor"]}).json()
    assert resumed["invoices"] == chartmogul_emulator.truth("/v1/invoices")[10:20]


def test_unknown_cursor_is_a_400(chartmogul_emulator: Emulator) -> None:
    reply = Client(chartmogul_emulator.url).get("/v1/activities", {"cursor": "not-a-uuid"})
    assert reply.status == 400 and reply.json()["param"] == "cursor"


def test_customers_come_in_ascending_customer_since_with_leads_last(chartmogul_emulator: Emulator) -> None:
    since = [c["customer-since"] for c in chartmogul_emulator.truth("/v1/customers")]
    dated = [s for s in since if s is not None]
    assert dated == sorted(dated) and since[:len(dated)] == dated


def test_crm_lists_come_newest_created_first(chartmogul_emulator: Emulator) -> None:
    created = [n["created_at"] for n in chartmogul_emulator.truth("/v1/customer_notes")]
    assert created == sorted(created, reverse=True)
