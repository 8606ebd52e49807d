"""Same seed and sizes give byte-identical answers; another seed gives another account."""

from __future__ import annotations


from chartmogul_emulator import Account, Emulator

from .client import Client

REQUESTS = [("/v1/customers", {"per_page": 50}), ("/v1/activities", {"per_page": 200}),
            ("/v1/invoices", {}), ("/v1/subscription_events", {"per_page": 30}), ("/v1/plans", {}),
            ("/v1/plan_groups", {}), ("/v1/contacts", {}), ("/v1/customer_notes", {}), ("/v1/opportunities", {}),
            ("/v1/tasks", {}), ("/v1/data_sources", {}), ("/v1/account", {}),
            ("/v1/metrics/all", {"start-date": "2019-01-01", "end-date": "2025-12-31", "interval": "month"})]


def snapshot(seed: int) -> list[bytes]:
    with Emulator(seed=seed, customers=120, activities=900) as emulator:
        client = Client(emulator.url)
        return [client.get(path, params).raw for path, params in REQUESTS]


def test_same_seed_gives_identical_bytes() -> None:
    assert snapshot(5) == snapshot(5)


def test_different_seed_gives_different_account() -> None:
    first, second = snapshot(5), snapshot(6)
    assert all(a != b for a, b in zip(first, second) if b"pong" not in a and b"Emulated" not in a)


def test_activity_count_is_exactly_the_requested_size() -> None:
    for customers, activities in ((200, 2000), (10, 1000), (300, 150), (1, 1), (40, 0)):
        account = Account.build(1, customers, activities)
        assert account.activity_count == activities and len(account.customers) == customers


def test_activity_uuid_maps_back_to_its_rank() -> None:
    account = Account.build(2, 30, 500)
    assert all(account.activity_rank(account.activity_uuid(r)) == r for r in range(account.activity_count))
    assert account.activity_rank("00000000-0000-4000-8000-000000000000") is None
