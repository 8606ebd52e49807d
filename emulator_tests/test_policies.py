"""Auth, rate limit, connection cap, latency, random and scripted faults, statistics, control API."""

from __future__ import annotations

import gc
import http.client
import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from chartmogul_emulator import Emulator, no_collector_pauses

from .client import API_KEY, Client, FakeClock, basic_auth

UNAUTHORIZED = b'{"code":401,"message":"No valid API key provided","param":null}'


@pytest.mark.parametrize("authorization", [None, basic_auth("wrong-key"), basic_auth(API_KEY, "other"),
                                           "Bearer " + API_KEY, "Basic !!!"])
def test_bad_or_missing_credentials_get_the_recorded_401(chartmogul_emulator: Emulator, authorization) -> None:
    client = Client(chartmogul_emulator.url, api_key=None)
    reply = client.get("/v1/ping", headers={"Authorization": authorization} if authorization else None)
    assert reply.status == 401 and reply.raw == UNAUTHORIZED
    assert reply.headers["Content-Type"].startswith("application/json")


@pytest.mark.parametrize("password", ["", API_KEY])
def test_key_as_user_with_empty_or_same_password_is_accepted(chartmogul_emulator: Emulator, password: str) -> None:
    reply = Client(chartmogul_emulator.url, api_key=None).get(
        "/v1/ping", headers={"Authorization": basic_auth(API_KEY, password)})
    assert reply.status == 200 and reply.json() == {"data": "pong!"}


def test_unknown_path_and_unknown_uuid_are_json_404s(chartmogul_emulator: Emulator) -> None:
    client = Client(chartmogul_emulator.url)
    assert client.get("/v1/nothing-here").status == 404
    reply = client.get("/v1/contacts/con_83b90e6a-d909-11ed-96e9-3369ce767b9d")
    assert reply.status == 404 and reply.json() == {  # as recorded in contacts_retrieve__4.json
        "code": 404, "message": 'Contact "83b90e6a-d909-11ed-96e9-3369ce767b9d" does not exist',
        "param": "contact_uuid"}
    search = client.get("/v1/customers/search", {"email": "no@email.com"})
    assert search.status == 404 and search.json() == {
        "code": 404, "message": 'Can\'t find any customers with email: "no@email.com"', "param": "email"}


def test_41st_request_within_a_second_is_rate_limited(chartmogul_emulator_factory) -> None:
    clock = FakeClock()
    emulator = chartmogul_emulator_factory(customers=20, activities=100, rate_limit=40, clock=clock)
    client = Client(emulator.url)
    statuses = [client.get("/v1/ping").status for _ in range(41)]
    assert statuses[:40] == [200] * 40 and statuses[40] == 429
    reply = client.get("/v1/ping")
    assert reply.status == 429 and reply.json() == {
        "code": 429, "message": "Your request rate has exceeded our rate limit.", "param": None}
    assert "Retry-After" not in reply.headers
    stats = emulator.stats()
    assert stats["rate_limited_429"] == 2 and stats["requests"]["/v1/ping"] == {"200": 40, "429": 2}
    clock.advance(0.999)
    assert client.get("/v1/ping").status == 429
    clock.advance(0.001)
    assert client.get("/v1/ping").status == 200  # the window slides


def test_retry_after_header_can_be_switched_on(chartmogul_emulator_factory) -> None:
    emulator = chartmogul_emulator_factory(customers=20, activities=100, rate_limit=1, retry_after=3, clock=FakeClock())
    client = Client(emulator.url)
    client.get("/v1/ping")
    reply = client.get("/v1/ping")
    assert reply.status == 429 and reply.headers["Retry-After"] == "3"


def test_a_request_beyond_20_in_flight_hits_the_connection_cap(chartmogul_emulator_factory) -> None:
    emulator = chartmogul_emulator_factory(customers=20, activities=100, max_connections=20)
    for _ in range(20):  # twenty requests held in flight, whatever the machine's speed
        assert emulator.policies.enter("/v1/ping") is None
    client = Client(emulator.url)
    reply = client.get("/v1/ping")
    assert reply.status == 503 and reply.json() == {
        "code": 503, "message": "Too many parallel connections. Please retry later.", "param": None}
    emulator.policies.leave()
    assert client.get("/v1/ping").status == 200
    stats = emulator.stats()
    assert stats["connection_limited_503"] == 1 and stats["peak_in_flight"] == 20


def test_latency_and_jitter_delay_answers(chartmogul_emulator_factory) -> None:
    emulator = chartmogul_emulator_factory(customers=20, activities=100, latency_ms=100, jitter_ms=50)
    delays = [emulator.policies.decide("GET", f"/v1/ping?n={n}", "/v1/ping").delay for n in range(200)]
    assert 0.1 <= min(delays) < 0.11 and 0.14 < max(delays) <= 0.15
    client = Client(emulator.url)
    began = time.monotonic()
    for _ in range(5):
        client.get("/v1/ping")
    assert time.monotonic() - began >= 0.5  # at least the latency (a busy machine only adds to it)


@pytest.mark.parametrize("kind,status", [("500", 500), ("502", 502), ("503", 503), ("504", 504), ("429", 429), ("403", 403)])
def test_scripted_status_faults(chartmogul_emulator_factory, kind: str, status: int) -> None:
    emulator = chartmogul_emulator_factory(customers=20, activities=100)
    emulator.script_fault(path="/v1/activities", kind=kind, nth=3)
    client = Client(emulator.url)
    statuses = [client.get("/v1/activities").status for _ in range(4)]
    assert statuses == [200, 200, status, 200]
    assert emulator.stats()["faults"] == {kind: 1}


def test_5xx_fault_bodies_are_json_or_plain_text(chartmogul_emulator_factory) -> None:
    emulator = chartmogul_emulator_factory(customers=20, activities=100, fault_rate=1.0, fault_kinds=("500",))
    client = Client(emulator.url)
    replies = [client.get("/v1/ping", {"n": n}) for n in range(16)]
    types = {r.headers["Content-Type"].split(";")[0] for r in replies}
    assert types == {"application/json", "text/plain"}
    plain = {r.raw for r in replies if r.headers["Content-Type"].startswith("text/plain")}
    assert plain == {b"500 Internal Server Error"}  # as ping__3.txt


def test_reset_fault_closes_without_answer(chartmogul_emulator_factory) -> None:
    emulator = chartmogul_emulator_factory(customers=20, activities=100)
    emulator.script_fault(path="/v1/ping", kind="reset")
    with pytest.raises((ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine)):
        Client(emulator.url).get("/v1/ping")
    assert Client(emulator.url).get("/v1/ping").status == 200


def test_truncated_fault_cuts_the_body_but_announces_it_whole(chartmogul_emulator_factory) -> None:
    emulator = chartmogul_emulator_factory(customers=20, activities=100)
    emulator.script_fault(path="/v1/customers", kind="truncated")
    with pytest.raises(http.client.IncompleteRead):
        Client(emulator.url).get("/v1/customers")


def test_html200_fault_is_a_maintenance_page(chartmogul_emulator_factory) -> None:
    emulator = chartmogul_emulator_factory(customers=20, activities=100)
    emulator.script_fault(path="/v1/customers", kind="html200")
    reply = Client(emulator.url).get("/v1/customers")
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("text/html")
    with pytest.raises(json.JSONDecodeError):
        reply.json()


def test_slow_fault_delays_a_normal_answer(chartmogul_emulator_factory) -> None:
    emulator = chartmogul_emulator_factory(customers=20, activities=100, slow_seconds=0.3)
    emulator.script_fault(path="/v1/ping", kind="slow")
    began = time.monotonic()
    reply = Client(emulator.url).get("/v1/ping")
    assert reply.status == 200 and time.monotonic() - began >= 0.3


def test_burst_of_five_429s_then_success(chartmogul_emulator_factory) -> None:
    emulator = chartmogul_emulator_factory(customers=20, activities=100)
    emulator.script_fault(path="/v1/customers", kind="429", nth=1, times=5)
    client = Client(emulator.url)
    assert [client.get("/v1/customers").status for _ in range(6)] == [429] * 5 + [200]


def test_empty_page_has_more_fault_loses_no_record(chartmogul_emulator_factory) -> None:
    emulator = chartmogul_emulator_factory(customers=50, activities=300)
    emulator.script_fault(path="/v1/activities", kind="empty_page_has_more", nth=2)
    records, bodies = Client(emulator.url).walk("/v1/activities", per_page=50)
    assert records == emulator.truth("/v1/activities")
    assert bodies[1]["entries"] == [] and bodies[1]["has_more"] is True
    assert bodies[1]["cursor"] == bodies[0]["cursor"]


def test_repeat_cursor_fault_returns_the_request_cursor(chartmogul_emulator_factory) -> None:
    emulator = chartmogul_emulator_factory(customers=50, activities=300)
    client = Client(emulator.url)
    first = client.get("/v1/invoices", {"per_page": 5}).json()
    emulator.script_fault(path="/v1/invoices", kind="repeat_cursor")
    looped = client.get("/v1/invoices", {"per_page": 5, "cursor": first["cursor"]}).json()
    assert looped["cursor"] == first["cursor"] and looped["invoices"]
    again = client.get("/v1/invoices", {"per_page": 5, "cursor": looped["cursor"]}).json()
    assert again["invoices"] == looped["invoices"]


def _fates(emulator: Emulator, workers: int) -> dict[str, int]:
    urls = [f"/v1/activities?per_page=10&page={n}" for n in range(1, 40)] * 2

    def status_of(url: str) -> tuple[str, int]:
        try:
            return url, Client(emulator.url).get(url).status
        except (ConnectionError, http.client.HTTPException):
            return url, -1

    with ThreadPoolExecutor(workers) as pool:
        outcomes = list(pool.map(status_of, urls))
    fates: dict[str, list[int]] = {}
    for url, status in outcomes:
        fates.setdefault(url, []).append(status)
    return {url: sorted(statuses) for url, statuses in fates.items()}  # type: ignore[misc]


def test_random_faults_are_reproducible_across_runs_and_interleavings(chartmogul_emulator_factory) -> None:
    options = dict(seed=3, customers=20, activities=100, fault_rate=0.3, fault_kinds=("500", "503", "429"))
    sequential = _fates(chartmogul_emulator_factory(**options), workers=1)
    concurrent = _fates(chartmogul_emulator_factory(**options), workers=8)
    assert sequential == concurrent
    statuses = [s for all_ in sequential.values() for s in all_]
    assert 0 < sum(s != 200 for s in statuses) < len(statuses)
    other_seed = _fates(chartmogul_emulator_factory(**{**options, "seed": 4}), workers=1)
    assert other_seed != sequential


def test_control_api_scripts_faults_and_reports_stats(chartmogul_emulator_factory) -> None:
    emulator = chartmogul_emulator_factory(customers=20, activities=100, clock=FakeClock())
    control = Client(emulator.url, api_key=None)
    spec = json.dumps({"path": "/v1/plans", "kind": "502", "nth": 2}).encode()
    assert control.request("POST", "/_emulator/faults", body=spec,
                           headers={"Content-Type": "application/json"}).status == 200
    client = Client(emulator.url)
    assert [client.get("/v1/plans").status for _ in range(3)] == [200, 502, 200]
    stats = control.get("/_emulator/stats").json()
    assert stats["total_requests"] == 3 and stats["requests"]["/v1/plans"] == {"200": 2, "502": 1}
    assert stats["faults"] == {"502": 1} and stats["peak_requests_per_second"] == 3
    assert stats["peak_in_flight"] == 1
    truth = control.get("/_emulator/truth", {"path": "/v1/plans"}).json()
    assert truth == {"records": emulator.truth("/v1/plans")}
    assert control.request("POST", "/_emulator/reset-stats").status == 200
    assert emulator.stats()["total_requests"] == 0 and emulator.stats()["requests"] == {}


def test_stats_give_the_shortest_time_in_which_one_request_more_than_the_limit_arrived(chartmogul_emulator_factory) -> None:
    clock = FakeClock()
    emulator = chartmogul_emulator_factory(customers=20, activities=100, rate_limit=3, clock=clock)
    client = Client(emulator.url)
    for _ in range(3):
        assert client.get("/v1/ping").status == 200
        assert emulator.stats()["shortest_span_over_rate_limit_s"] is None  # not 4 arrivals yet
        clock.advance(0.35)
    assert client.get("/v1/ping").status == 200  # 4 arrivals in 1.05 s: within the limit
    assert emulator.stats()["shortest_span_over_rate_limit_s"] == pytest.approx(1.05)
    clock.advance(0.1)
    assert client.get("/v1/ping").status == 429  # the last 4 arrived in 0.8 s
    assert emulator.stats()["shortest_span_over_rate_limit_s"] == pytest.approx(0.8)
    emulator.reset_stats()
    assert emulator.stats()["shortest_span_over_rate_limit_s"] is None


def test_the_control_api_counts_the_admitted_requests_of_each_path_since_the_reset(chartmogul_emulator_factory) -> None:
    emulator = chartmogul_emulator_factory(customers=20, activities=100, rate_limit=3, clock=FakeClock())
    first, second = (customer["uuid"] for customer in emulator.truth("/v1/customers")[:2])
    client = Client(emulator.url)
    client.get("/v1/plans")  # before the reset: not counted, but in the rate window
    emulator.reset_stats()
    statuses = [client.get(f"/v1/customers/{uuid}/subscriptions", {"per_page": 1}).status
                for uuid in (first, first, second)]
    assert statuses == [200, 200, 429]  # a refused request never reached the API
    control = Client(emulator.url, api_key=None)
    assert control.get("/_emulator/paths", {"prefix": "/v1/customers/"}).json() == {
        "paths": {f"/v1/customers/{first}/subscriptions": 2}}
    assert control.get("/_emulator/paths").json()["paths"] == {f"/v1/customers/{first}/subscriptions": 2}


def test_unknown_fault_kind_is_refused(chartmogul_emulator: Emulator) -> None:
    with pytest.raises(ValueError):
        chartmogul_emulator.script_fault(path="/v1/ping", kind="meteor")
    reply = Client(chartmogul_emulator.url, api_key=None).request(
        "POST", "/_emulator/faults", body=b'{"path": "/v1/ping", "kind": "meteor"}')
    assert reply.status == 400


def test_short_page_has_more_fault_serves_half_a_page_and_loses_no_record(chartmogul_emulator_factory) -> None:
    emulator = chartmogul_emulator_factory(customers=50, activities=300)
    emulator.script_fault(path="/v1/contacts", kind="short_page_has_more", nth=1)
    records, bodies = Client(emulator.url).walk("/v1/contacts", per_page=10)
    assert records == emulator.truth("/v1/contacts")
    assert len(bodies[0]["entries"]) == 5 and bodies[0]["has_more"] is True
    assert bodies[1]["entries"][0] == records[5]


@pytest.mark.parametrize("path", ["/v1/customers", "/v1/subscription_events", "/v1/plans"])
def test_the_meta_paging_shape_carries_has_more_and_cursor_only_inside_meta_on_every_page(
        path: str, chartmogul_emulator_factory) -> None:
    emulator = chartmogul_emulator_factory(customers=60, activities=300, paging_shape="meta")
    client = Client(emulator.url)
    truth, records_key = emulator.truth(path), {"/v1/plans": "plans", "/v1/subscription_events": "subscription_events"}.get(path, "entries")
    records, cursor, pages = [], None, []
    while True:
        body = client.get(path, {"per_page": 2, **({"cursor": cursor} if cursor else {})}).json()
        pages.append(body)
        records += body[records_key]
        if not body["meta"]["has_more"]:
            break
        cursor = body["meta"]["cursor"]
    assert records == truth and len(pages) > 1
    assert {tuple(sorted(body)) for body in pages} == {tuple(sorted([records_key, "meta"]))}
    assert set(pages[0]["meta"]) == {"next_key", "prev_key", "before_key", "page", "total_pages", "has_more", "cursor"}


@pytest.mark.parametrize("path,keys", [
    ("/v1/customers", {"entries", "current_page", "total_pages", "has_more", "per_page", "page"}),  # customers_list__8
    ("/v1/plans", {"plans", "current_page", "total_pages"}),                                          # plans__4
    ("/v1/contacts", {"entries", "current_page", "total_pages"}),
])
def test_the_legacy_paging_shape_answers_page_counts_without_a_cursor(path: str, keys: set, chartmogul_emulator_factory) -> None:
    emulator = chartmogul_emulator_factory(customers=60, activities=300, paging_shape="legacy")
    body = Client(emulator.url).get(path, {"per_page": 7}).json()
    assert set(body) == keys and (body["current_page"], body["total_pages"]) == (1, -(-len(emulator.truth(path)) // 7))


def test_a_stall_holds_the_requests_that_arrive_during_it_until_its_end(chartmogul_emulator_factory) -> None:
    clock = FakeClock()
    emulator = chartmogul_emulator_factory(customers=20, activities=100, stall_ms=400,  # stalls at 0-0.4 s, 1.3-1.7 s, ...
                                           clock=clock)
    policies = emulator.policies
    assert policies.stall() == pytest.approx(0.4)
    clock.advance(0.1)
    assert policies.stall() == pytest.approx(0.3)  # held until the stall's end
    clock.advance(0.7)
    assert policies.stall() == 0.0  # between two stalls
    clock.advance(0.6)
    assert policies.stall() == pytest.approx(0.3)  # the next stall, 1.3 s after the first
    clock.advance(-1.4)
    started = time.monotonic()
    assert Client(emulator.url).get("/v1/plans").status == 200
    assert time.monotonic() - started >= 0.4  # held at least the stall (a busy machine only adds to it)


def test_no_collector_pauses_keeps_the_heap_from_the_cyclic_collector_for_its_block_only() -> None:
    # A full collection then walks only what the block allocates, not the account (220-300 ms at 20,000 customers).
    assert gc.get_freeze_count() == 0
    with no_collector_pauses():
        assert gc.get_freeze_count() > 1000
    assert gc.get_freeze_count() == 0
