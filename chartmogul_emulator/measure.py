"""Re-measure the emulator's costs: ``python -m chartmogul_emulator.measure --customers 20000 --activities 200000``.

Prints the account generation time, the process's peak RSS after generation, and the server-side CPU
time to answer one 200-record page (routing, rendering and JSON encoding, no socket I/O) for the
main list endpoints, walking their cursors; then the wall time of one simulated day (``Emulator.simulate_day``).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import resource
import sys
import time

from .account import Account
from .api import Api
from .server import Emulator, encode_json

PAGED_ENDPOINTS = ("/v1/activities", "/v1/customers", "/v1/invoices", "/v1/subscription_events", "/v1/contacts")


def page_cpu_ms(api: Api, path: str, pages: int) -> float:
    """Mean CPU milliseconds per 200-record page over up to ``pages`` consecutive cursor pages."""
    params: dict[str, str] = {"per_page": "200"}
    spent, served = 0.0, 0
    for _ in range(pages):
        began = time.process_time()
        status, body = api.get(path, params)
        encode_json(body)
        spent += time.process_time() - began
        served += 1
        if status != 200 or not body.get("has_more"):
            break
        params = {"per_page": "200", "cursor": body["cursor"]}
    return 1000 * spent / served


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chartmogul_emulator.measure")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--customers", type=int, default=20000)
    parser.add_argument("--activities", type=int, default=200000)
    parser.add_argument("--pages", type=int, default=50, help="pages walked per endpoint")
    parser.add_argument("--day-share", type=float, default=0.01, help="share of customers changed by the simulated day")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    account = Account.build(args.seed, args.customers, args.activities)
    built = time.perf_counter() - began
    api = Api(account)
    indexed = time.perf_counter() - began
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    print(f"account: {args.customers} customers, {account.activity_count} activities, "
          f"{len(account.subscriptions)} subscriptions, {len(account.invoices)} invoices")
    print(f"generation: {built:.2f} s (with API indexes {indexed:.2f} s); peak RSS {rss_mib:.0f} MiB")
    for path in PAGED_ENDPOINTS:
        print(f"{path}: {page_cpu_ms(api, path, args.pages):.2f} ms CPU per 200-record page")
    print(f"over HTTP, /v1/activities: {http_page_cpu_ms(account, args.pages):.2f} ms CPU per 200-record page "
          "(server and client in one process: an upper bound)")
    emulator = Emulator(account=account)  # last: a day changes the account the pages above were measured on
    began = time.perf_counter()
    day = emulator.simulate_day(args.day_share)
    print(f"a simulated day ({args.day_share:.0%} of the customers): {time.perf_counter() - began:.3f} s with API "
          f"indexes; {len(day['activities'])} activities, {len(day['renewed_subscriptions'])} renewals, "
          f"{len(day['invoices'])} invoices")
    return 0


def http_page_cpu_ms(account: Account, pages: int) -> float:
    """Process CPU per page of a keep-alive cursor walk through the real HTTP server."""
    with Emulator(account=account) as emulator:
        connection = http.client.HTTPConnection("127.0.0.1", int(emulator.url.rsplit(":", 1)[1]))
        headers = {"Authorization": "Basic " + base64.b64encode(f"{emulator.api_key}:".encode()).decode()}
        query = "per_page=200"
        began = time.process_time()
        for served in range(1, pages + 1):
            connection.request("GET", f"/v1/activities?{query}", headers=headers)
            body = json.loads(connection.getresponse().read())
            if not body["has_more"]:
                break
            query = f"per_page=200&cursor={body['cursor']}"
        spent = time.process_time() - began
        connection.close()
    return 1000 * spent / served


if __name__ == "__main__":
    sys.exit(main())
