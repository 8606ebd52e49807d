"""HTTP layer of the emulator (stdlib ``ThreadingHTTPServer``, HTTP/1.1 keep-alive) and ``Emulator``.

``/v1/...`` is the emulated API (Basic auth, limits, latency, faults). ``/_emulator/...`` is the control
API (no auth, never limited or counted):

* ``GET /_emulator/stats`` — counters (see ``Policies.stats``);
* ``POST /_emulator/reset-stats``;
* ``GET /_emulator/paths?prefix=/v1/...`` — ``{"paths": {path: admitted requests}}`` since the last reset;
* ``GET /_emulator/truth?path=/v1/...&<the request's own params>`` — ``{"records": [...]}``;
* ``POST /_emulator/faults`` — JSON ``{"path", "kind", "nth", "times"}``, a list of those, or
  ``{"clear": true}``;
* ``POST /_emulator/day?share=0.01&seed=N&backdated=0&backdated_days=10`` — simulate a day (``Emulator.simulate_day``);
  answers its ground truth;
* ``GET /_emulator/days`` — ``{"days": [...]}``: the ground truth of every day simulated so far.
"""

from __future__ import annotations

import contextlib
import gc
import json
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator
from urllib.parse import parse_qs, urlsplit

from .account import Account, SimulatedDay, format_offset
from .api import Api, ApiError
from .policies import (FAULT_KINDS, FORBIDDEN_BODY, MAINTENANCE_PAGE, RATE_LIMITED_BODY, REFUSAL_KINDS,
                       SERVER_ERROR_TEXT, TOO_MANY_CONNECTIONS_BODY, UNAUTHORIZED_BODY, ArrivalDelay, Policies,
                       ScriptedFault)

CONTROL_PREFIX = "/_emulator/"


def encode_json(body: Any) -> bytes:
    # the real API sends non-ASCII characters as UTF-8, not as \u escapes
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


@contextlib.contextmanager
def no_collector_pauses() -> Iterator[None]:
    """The process's objects as they stand (the account and its tables: built once, then only read) out of the cyclic
    collector's sight while the block runs. A full collection stopped this process for 220-300 ms at 20,000 customers,
    and the requests that queued in the kernel meanwhile were counted together when it ended: 41 in one second of the
    emulator's clock, a 429 that ChartMogul's clock, which has no such pauses, would not give (make bench --mode
    full20k). Where the rate limit's clock matters: the command line, and tests at the real limits."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class EmulatorHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "chartmogul-emulator"
    timeout = 60  # idle keep-alive connections are dropped after a minute
    server: "EmulatorServer"

    def setup(self) -> None:
        super().setup()
        # headers and body leave in two writes: without TCP_NODELAY, Nagle and delayed ACKs add ~40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Silent: statistics are available from the control API instead."""

    # ------------------------------------------------------------------ responses

    def _send(self, status: int, payload: bytes, content_type: str = "application/json; charset=utf-8",
              headers: dict[str, str] | None = None, truncate: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if truncate:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload[:len(payload) // 2] if truncate else payload)
        if truncate:
            self.close_connection = True

    def _record(self, template: str, status: int | str, fault: str | None = None) -> None:
        self.server.emulator.policies.record(template, status, fault, url=self.path)

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, encode_json(body), headers=headers)

    def _reset_connection(self) -> None:
        """Drop the connection without an answer (RST, as a crashed proxy would)."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True

    # ------------------------------------------------------------------ dispatch

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        if url.path.startswith(CONTROL_PREFIX):
            self._control(method, url.path[len(CONTROL_PREFIX):], params)
        else:
            self._api(method, url.path, params)

    def _api(self, method: str, path: str, params: dict[str, str]) -> None:
        emulator = self.server.emulator
        policies = emulator.policies
        template = emulator.api.template_of(path)
        on_the_way = policies.on_the_way(method, self.path)  # the limits count arrivals, not departures
        if on_the_way:
            time.sleep(on_the_way)
        stalled = policies.stall()
        if stalled:
            time.sleep(stalled)
        refusal = policies.enter(template, params)
        if refusal is not None:
            body = TOO_MANY_CONNECTIONS_BODY if refusal == 503 else RATE_LIMITED_BODY
            headers = {"Retry-After": str(policies.retry_after)} if refusal == 429 and policies.retry_after else None
            self._record(template, refusal)
            self._send_json(refusal, body, headers)
            return
        try:
            self._admitted(method, path, params, template)
        finally:
            policies.leave()

    def _admitted(self, method: str, path: str, params: dict[str, str], template: str) -> None:
        emulator = self.server.emulator
        policies = emulator.policies
        if not policies.authorized(self.headers.get("Authorization")):
            self._record(template, 401)
            self._send_json(401, UNAUTHORIZED_BODY)
            return
        if method != "GET":
            self._record(template, 405)
            self._send_json(405, {"code": 405, "message": "Method not allowed", "param": None})
            return
        decision = policies.decide(method, self.path, path)
        if decision.delay:
            time.sleep(decision.delay)
        fault = decision.fault
        if fault in FAULT_KINDS + REFUSAL_KINDS and fault != "slow":
            self._serve_fault(fault, decision.variant, template, path, params)
            return
        if fault == "slow":
            time.sleep(policies.slow_seconds)
        status, body = emulator.api.get(path, params, pagination_fault=fault if fault != "slow" else None)
        self._record(template, status, fault)
        self._send_json(status, body)

    def _serve_fault(self, fault: str, variant: int, template: str, path: str, params: dict[str, str]) -> None:
        policies = self.server.emulator.policies
        if fault == "reset":
            self._record(template, "reset", fault)
            self._reset_connection()
        elif fault == "truncated":
            _, body = self.server.emulator.api.get(path, params)
            self._record(template, 200, fault)
            self._send(200, encode_json(body), truncate=True)
        elif fault == "html200":
            self._record(template, 200, fault)
            self._send(200, MAINTENANCE_PAGE.encode(), "text/html; charset=utf-8")
        elif fault == "401":
            self._record(template, 401, fault)
            self._send_json(401, UNAUTHORIZED_BODY)
        elif fault == "403":
            self._record(template, 403, fault)
            self._send_json(403, FORBIDDEN_BODY)
        elif fault == "429":
            self._record(template, 429, fault)
            seconds = policies.retry_after or 1
            self._send_json(429, RATE_LIMITED_BODY, {"Retry-After": str(seconds)} if variant else None)
        else:
            status = int(fault)
            self._record(template, status, fault)
            if variant:
                self._send(status, SERVER_ERROR_TEXT[fault].encode(), "text/plain; charset=utf-8")
            else:
                self._send_json(status, {"code": status, "message": SERVER_ERROR_TEXT[fault][4:], "param": None})

    def _control(self, method: str, action: str, params: dict[str, str]) -> None:
        emulator = self.server.emulator
        if method == "GET" and action == "stats":
            self._send_json(200, emulator.stats())
        elif method == "POST" and action == "reset-stats":
            self._read_body()
            emulator.reset_stats()
            self._send_json(200, {"ok": True})
        elif method == "GET" and action == "truth":
            path = params.pop("path", "")
            try:
                self._send_json(200, {"records": emulator.truth(path, params)})
            except ApiError as error:
                self._send_json(error.status, error.body())
        elif method == "GET" and action == "paths":
            self._send_json(200, {"paths": emulator.policies.paths_served(params.get("prefix", ""))})
        elif method == "GET" and action == "days":
            self._send_json(200, {"days": emulator.days()})
        elif method == "POST" and action == "day":
            self._read_body()
            try:
                share = float(params.get("share", "0.01"))
                seed = int(params["seed"]) if params.get("seed") else None
                backdated = int(params.get("backdated", "0"))
                self._send_json(200, emulator.simulate_day(share, seed, backdated, int(params.get("backdated_days", "10"))))
            except ValueError as error:
                self._send_json(400, {"code": 400, "message": f"day: {error}", "param": None})
        elif method == "POST" and action == "faults":
            try:
                spec = json.loads(self._read_body() or b"{}")
                specs = spec if isinstance(spec, list) else [spec]
                if any(s.get("clear") for s in specs):
                    emulator.clear_faults()
                for s in specs:
                    if not s.get("clear"):
                        emulator.script_fault(**s)
            except (ValueError, TypeError) as error:
                self._send_json(400, {"code": 400, "message": str(error), "param": None})
                return
            self._send_json(200, {"ok": True})
        else:
            self._send_json(404, {"code": 404, "message": "Unknown control endpoint", "param": None})

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # a burst of parallel connections must reach the connection cap, not the backlog

    def __init__(self, address: tuple[str, int], emulator: "Emulator") -> None:
        self.emulator = emulator
        super().__init__(address, EmulatorHandler)


class Emulator:
    """A running emulated ChartMogul API on 127.0.0.1; use as a context manager.

    ``rate_limit`` (requests per sliding second) and ``max_connections`` (requests in flight) are off
    when None or 0. ``fault_rate`` draws ``fault_kinds`` at random; ``retry_after`` adds a ``Retry-After``
    header to limiter 429s (the real API sends none); ``slow_seconds`` is the delay of a ``slow`` fault;
    ``paging_shape`` is how lists say there is more (``api.PAGING_SHAPES``); ``stall_ms``: the way to the limits stalls
    that long every 1.3 s, and lets what it held arrive at once (late requests, as ChartMogul's clock sees them);
    ``arrival_delay`` (``policies.ArrivalDelay``, or its text such as ``uniform:120``): each request spends a random,
    seeded time on its way before the limits count it, as over a real network; ``compute_budget``: ChartMogul's
    second limit, compute units per minute (``policies.compute_units``), beyond which it answers 429 (off when None or
    0); ``clock``: the limits' clock (a test's fake one; ``time.monotonic`` by default).
    """

    def __init__(self, seed: int = 7, customers: int = 200, activities: int = 2000, api_key: str = "test-api-key",
                 rate_limit: int | None = None, max_connections: int | None = None, latency_ms: float = 0,
                 jitter_ms: float = 0, fault_rate: float = 0.0, fault_kinds: tuple[str, ...] = FAULT_KINDS,
                 date_boundaries: str = "inclusive", paging_shape: str = "current", retry_after: int | None = None,
                 slow_seconds: float = 2.0, stall_ms: float = 0.0, arrival_delay: ArrivalDelay | str | None = None,
                 compute_budget: int | None = None, clock: Callable[[], float] = time.monotonic, port: int = 0,
                 account: Account | None = None) -> None:
        self.account = account or Account.build(seed, customers, activities)
        self.api = Api(self.account, date_boundaries, paging_shape)
        self.api_key = api_key
        self.policies = Policies(seed=seed, api_key=api_key, rate_limit=rate_limit,
                                 max_connections=max_connections, latency_ms=latency_ms, jitter_ms=jitter_ms,
                                 fault_rate=fault_rate, fault_kinds=tuple(fault_kinds), retry_after=retry_after,
                                 slow_seconds=slow_seconds, stall_ms=stall_ms,
                                 arrival_delay=ArrivalDelay.parse(arrival_delay) if isinstance(arrival_delay, str)
                                 else arrival_delay, compute_budget=compute_budget, clock=clock)
        self.port = port
        self._server: EmulatorServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("emulator not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> "Emulator":
        self._server = EmulatorServer(("127.0.0.1", self.port), self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="chartmogul-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stats(self) -> dict[str, Any]:
        return self.policies.stats()

    def reset_stats(self) -> None:
        self.policies.reset_stats()

    def truth(self, path: str, params: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """Every record a complete pagination of ``GET path?params`` returns (metrics: the entries)."""
        return self.api.list_records(path, params)

    def simulate_day(self, share: float = 0.01, seed: int | None = None, backdated: int = 0,
                     backdated_days: int = 10) -> dict[str, Any]:
        """Simulate a day in the account (``Account.simulate_day``) and serve it; answers the day's ground truth:
        the new activities' UUIDs, the customers with activities, the subscriptions renewed (their ``end-date``
        moved), the customers changed without an activity and the new invoices, as uuids. Call it between syncs:
        a request in flight meanwhile may see part of the day."""
        day = self.account.simulate_day(share, seed, backdated, backdated_days)
        # the endpoint tables hold counts and rank maps of the account as it was: rebuild them (about 0.1 s at
        # 20,000 customers) rather than keep every one of them in step with the day
        self.api = Api(self.account, self.api.date_boundaries, self.api.paging_shape)
        return self._day_truth(day)

    def days(self) -> list[dict[str, Any]]:
        """The ground truth of every day simulated so far, in order (as ``simulate_day`` answered it)."""
        return [self._day_truth(day) for day in self.account.days]

    def _day_truth(self, day: SimulatedDay) -> dict[str, Any]:
        a = self.account
        return {"start": format_offset(day.start), "end": format_offset(day.end),
                "activities": [a.activity_uuid_of_key(k) for k in day.activity_keys],
                "customers_with_activities": [a.customers[c].uuid for c in day.customers_with_activities],
                "renewed_subscriptions": [a.subscriptions[n].uuid for n in day.renewed_subscriptions],
                "customers_renewed_only": [a.customers[c].uuid for c in day.customers_renewed_only],
                "invoices": list(day.invoices)}

    def script_fault(self, path: str, kind: str, nth: int = 1, times: int = 1) -> None:
        """Serve ``kind`` to the ``nth`` .. ``nth+times-1`` requests to ``path`` (counted from now on)."""
        with self.policies.lock:
            already = self.policies.path_seen.get(path, 0)
        self.policies.script(ScriptedFault(path, kind, nth + already, times))

    def clear_faults(self) -> None:
        self.policies.clear_scripts()
