"""Benchmark: full syncs of customers, activities and the monthly customer count, by our connector and by the
official one (airbyte-source-chartmogul 1.0.13), both reading the same local ChartMogul emulator.

Modes (realistic and cpu by default; --mode picks, and may be repeated):
* realistic: ChartMogul's limits (40 requests/s -> 429, 20 in flight -> 503), 200 +- 50 ms per request,
  20,000 customers and 200,000 activities;
* cpu: no latency, no limits, 2,000 customers and 100,000 activities: what each connector costs per record;
* rss1m: 1,000,000 activities, no latency, no limits, our connector only: its peak memory;
* full5k, full20k: every stream (all 20; the segment streams have no segment by default) of 5,000 or 20,000 customers at ChartMogul's limits and latency, our
  connector only, with its default settings: the 429s and 503s it gets, the peak requests in a second, every stream's
  records against the ground truth (customer_subscriptions alone is one request per customer), and the wall time
  against the rate-limit floor (requests / 40 per s);
* full20k-network: full20k over a network: each request also spends a uniform 0-120 ms on its way before the
  emulator counts it against the limits (ChartMogul counts arrivals, not departures); targets: at most 1.15x the
  rate-limit floor, 429s at most 0.1% of the requests, every record exact. --quick: 4,000 customers;
* daily: every stream of 5,000 customers, same limits: a first sync from no state (incremental where discover says a
  stream supports it), a simulated day in which 1% of the customers change (POST /_emulator/day), then a daily sync
  from the first one's states. Its customer_subscriptions requests, each customer's classified as due by an activity
  new since the first sync (the simulated day's) or by its rotation bucket (crc32(uuid) % 7, the buckets of the days
  since the last sync), else unexplained; and each re-read customer's subscriptions against the emulator's;
* resume: every stream of 5,000 customers, full refresh, same limits: a clean sync (R requests), one SIGKILLed once
  the emulator has served R/2, one resumed from the last state of each stream the killed one wrote; the requests of
  both attempts against R, the union of their records against the clean sync's (missing, unexpected, duplicated).

Each sync is a separate connector process (Airbyte protocol on stdout, RECORD messages counted as they stream) and
the emulator is another one, so neither shares a GIL with what is measured. Per run: records per stream against the
emulator's ground truth, requests per endpoint, 429s and 503s served, peak requests in a second, peak in flight
(from the emulator's statistics, reset before each run), wall time, CPU time and peak RSS of the connector process.
--beside-cpu-load N runs N CPU-bound processes (`python3 -c 'while True: pass'`) for the whole bench, as a busy
machine would (stopped at its end). Results go to bench-results/results-<mode>.json and bench-results/summary.md (with
--quick: *-quick.*; with --beside-cpu-load N: *-besideNcpu.*). Exit status 1 when a sync failed or delivered a wrong
record count; unmet targets are reported, not failures.

This connector is installed as users get it (`pip install .`, without the test and demo dependencies) into
.cache/bench-venv, from the working tree, at the start of every bench. The official connector needs Python 3.10 (its
airbyte-cdk 0.90 does not import on 3.11): it is installed once into .cache/official-venv, and its manifest, which
hard-codes https://api.chartmogul.com, is pointed at the emulator before each run from a pristine copy (restored at
the end).
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import hashlib
import json
import multiprocessing
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import zlib
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the emulator package lives in the repository, not in the connector's package

from chartmogul_emulator import CHARTMOGUL_PARALLEL_CONNECTIONS, CHARTMOGUL_REQUESTS_PER_SECOND  # noqa: E402 - the path above
from chartmogul_emulator.stream_truth import customer_subscriptions_of, endpoint_template  # noqa: E402

RESULTS_DIR = ROOT / "bench-results"
CATALOG_PATH = ROOT / "integration_tests" / "configured_catalog.json"  # every stream, full refresh
OUR_VENV = ROOT / ".cache" / "bench-venv"  # this connector as users install it
OFFICIAL_PACKAGE = "airbyte-source-chartmogul==1.0.13"
OFFICIAL_VENV = ROOT / ".cache" / "official-venv"  # .cache/ is gitignored
OFFICIAL_HOST_LINE = "url_base: https://api.chartmogul.com"

API_KEY = "sk_bench_5b1f0c2e9d7a"
SEED = 7
START_DATE = "2019-01-01T00:00:00Z"
END_DATE = "2025-12-31T23:59:59Z"
RATE_LIMIT = CHARTMOGUL_REQUESTS_PER_SECOND
MAX_CONNECTIONS = CHARTMOGUL_PARALLEL_CONNECTIONS
UNPACED_REQUESTS_PER_SECOND = 1000  # lifts our pacing where the emulator enforces no limit (as the tests do)
RSS_TARGET_MB = 200
# wall time / (requests / RATE_LIMIT), at most (issue targets)
FLOOR_CEILINGS = {"realistic": 1.2, "full20k": 1.1, "full20k-network": 1.15}
NETWORK_429_SHARE = 0.001  # over a network, 429s at most this share of the requests (issue 22); elsewhere none
CPU_LOAD_COMMAND = [sys.executable, "-c", "while True: pass"]
BUSY_WARNING_PCT = 15  # CPU use by others before a run above which its figures are flagged

# Each connector's three streams, and the emulator endpoint each one reads (to attribute requests).
OUR_STREAMS = {stream: endpoint_template(stream) for stream in ("customers", "activities", "customer_count")}
OFFICIAL_STREAMS = {"customers": "/v1/customers", "activities": "/v1/activities",
                    "customer_monthly_count": "/v1/metrics/customer-count"}
OFFICIAL_PRIMARY_KEYS = {"customers": "id", "activities": "uuid", "customer_monthly_count": "date"}

# The start of a RECORD line in both connectors' serialisations (orjson: no spaces; pydantic .json(): spaces);
# matching it spares the harness a JSON parse per record, so it keeps pace with the connector.
RECORD_LINE = re.compile(
    rb'\{"type": ?"RECORD", ?"record": ?\{(?:"namespace": ?(?:null|"[^"]*"), ?)?"stream": ?"([^"]+)"')


@dataclass(frozen=True)
class Mode:
    name: str
    customers: int
    activities: int
    quick_customers: int
    quick_activities: int
    latency_ms: float
    jitter_ms: float
    limits: bool
    with_official: bool
    our_timeout_s: float
    official_timeout_s: float
    all_streams: bool = False  # every stream of the catalog, not the three both connectors have
    arrival_delay: str | None = None  # the emulator's --arrival-delay: time on the way before the limits count
    scenario: bool = False  # several syncs in a row (SCENARIOS), with verdicts of their own


MODES = {
    "realistic": Mode("realistic", customers=20_000, activities=200_000, quick_customers=2_000, quick_activities=20_000,
                      latency_ms=200, jitter_ms=50, limits=True, with_official=True,
                      our_timeout_s=900, official_timeout_s=2400),
    "cpu": Mode("cpu", customers=2_000, activities=100_000, quick_customers=500, quick_activities=10_000,
                latency_ms=0, jitter_ms=0, limits=False, with_official=True,
                our_timeout_s=600, official_timeout_s=1200),
    "rss1m": Mode("rss1m", customers=2_000, activities=1_000_000, quick_customers=500, quick_activities=100_000,
                  latency_ms=0, jitter_ms=0, limits=False, with_official=False,
                  our_timeout_s=1200, official_timeout_s=0),
    "full5k": Mode("full5k", customers=5_000, activities=50_000, quick_customers=500, quick_activities=5_000,
                   latency_ms=200, jitter_ms=50, limits=True, with_official=False, our_timeout_s=900,
                   official_timeout_s=0, all_streams=True),
    "full20k": Mode("full20k", customers=20_000, activities=200_000, quick_customers=2_000, quick_activities=20_000,
                    latency_ms=200, jitter_ms=50, limits=True, with_official=False, our_timeout_s=2400,
                    official_timeout_s=0, all_streams=True),
    "full20k-network": Mode("full20k-network", customers=20_000, activities=200_000, quick_customers=4_000,
                            quick_activities=40_000, latency_ms=200, jitter_ms=50, limits=True, with_official=False,
                            our_timeout_s=2400, official_timeout_s=0, all_streams=True, arrival_delay="uniform:120"),
    "daily": Mode("daily", customers=5_000, activities=50_000, quick_customers=500, quick_activities=5_000,
                  latency_ms=200, jitter_ms=50, limits=True, with_official=False, our_timeout_s=900,
                  official_timeout_s=0, all_streams=True, scenario=True),
    "resume": Mode("resume", customers=5_000, activities=50_000, quick_customers=500, quick_activities=5_000,
                   latency_ms=200, jitter_ms=50, limits=True, with_official=False, our_timeout_s=900,
                   official_timeout_s=0, all_streams=True, scenario=True),
}


class BenchError(Exception):
    """A failure that ends the benchmark with a one-line message."""


# ---------------------------------------------------------------------------------------------- child processes

LIVE_PROCESSES: set[subprocess.Popen] = set()  # stopped on any exit: no emulator or connector outlives the bench


def stop_process_group(process: subprocess.Popen, grace_s: float = 5.0) -> None:
    """SIGTERM to the process's group, SIGKILL if it is still there after the grace period."""
    if process.poll() is not None:
        return
    for signum, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, grace_s)):
        try:
            os.killpg(process.pid, signum)
        except ProcessLookupError:
            return
        try:
            process.wait(wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def stop_all_processes() -> None:
    for process in list(LIVE_PROCESSES):
        stop_process_group(process)
        LIVE_PROCESSES.discard(process)


# ---------------------------------------------------------------------------------------------- the emulator

class EmulatorProcess:
    """``python -m chartmogul_emulator`` in its own process; a context manager that stops it on exit."""

    def __init__(self, mode: Mode, customers: int, activities: int, log_path: Path) -> None:
        self.log_path = log_path
        self.args = [sys.executable, "-m", "chartmogul_emulator", "--port", "0", "--seed", str(SEED),
                     "--customers", str(customers), "--activities", str(activities), "--api-key", API_KEY,
                     "--latency-ms", str(mode.latency_ms), "--jitter-ms", str(mode.jitter_ms)]
        if mode.limits:
            self.args += ["--rate-limit", str(RATE_LIMIT), "--max-connections", str(MAX_CONNECTIONS)]
            if mode.arrival_delay:
                self.args += ["--arrival-delay", mode.arrival_delay]
        else:
            self.args.append("--no-limits")
        self.process: subprocess.Popen | None = None
        self.url = ""

    def __enter__(self) -> "EmulatorProcess":
        # its stderr goes to a file: a pipe nobody reads would fill with handler tracebacks and block the emulator
        with tempfile.TemporaryDirectory() as scratch, self.log_path.open("wb") as log:
            url_file = Path(scratch) / "url"
            self.process = subprocess.Popen(self.args + ["--url-file", str(url_file)], cwd=ROOT,
                                            stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
            LIVE_PROCESSES.add(self.process)
            deadline = time.monotonic() + 180  # generating 1,000,000 activities takes ~11 s
            while not url_file.exists() or not url_file.read_text().strip():
                if self.process.poll() is not None:
                    raise BenchError(f"the emulator exited with code {self.process.returncode}: "
                                     f"{last_line(self.log_path) or 'no message'}")
                if time.monotonic() > deadline:
                    raise BenchError("the emulator did not start within 180 s")
                time.sleep(0.1)
            self.url = url_file.read_text().strip()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            stop_process_group(self.process)
            LIVE_PROCESSES.discard(self.process)

    def _control(self, method: str, action: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        request = urllib.request.Request(f"{self.url}/_emulator/{action}{query}", method=method,
                                         data=b"" if method == "POST" else None)
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def stats(self) -> dict[str, Any]:
        return self._control("GET", "stats")

    def reset_stats(self) -> None:
        self._control("POST", "reset-stats")

    def truth(self, path: str, params: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """Every record of ``GET path?params``, as the emulator's own model has it (what connector_cli asks)."""
        return self._control("GET", "truth", {"path": path, **(params or {})})["records"]

    def paths(self, prefix: str) -> dict[str, int]:
        """Admitted requests per path since the last reset of the statistics, for the paths under ``prefix``."""
        return self._control("GET", "paths", {"prefix": prefix})["paths"]

    def simulate_day(self, share: float, seed: int) -> dict[str, Any]:
        """A day in the account (ChartMogul's clock moves on a day); its ground truth."""
        return self._control("POST", "day", {"share": share, "seed": seed})


def expected_counts_of_every_stream(customers: int, activities: int) -> dict[str, dict[str, int]]:
    """Ground truth of every stream (chartmogul_emulator.stream_truth), rendered by the emulator's own model."""
    from chartmogul_emulator.account import Account
    from chartmogul_emulator.api import Api
    from chartmogul_emulator.stream_truth import ground_truth

    class Model:  # what ground_truth asks of an emulator, without serving HTTP
        def __init__(self) -> None:
            self.truth = Api(Account.build(SEED, customers, activities)).list_records

    model, config = Model(), {"start_date": START_DATE, "end_date": END_DATE}
    streams = [entry["stream"]["name"] for entry in json.loads(CATALOG_PATH.read_text())["streams"]]
    return {"ours": {stream: len(ground_truth(model, stream, config)) for stream in streams}}


def expected_counts(customers: int, activities: int, official_end_day: str) -> dict[str, dict[str, int]]:
    """Ground truth, from the emulator's own model of the same seed and sizes (run in a separate process: building
    the account takes seconds and memory the harness should not hold while it measures).

    Counted, not rendered: activities by the bisect the API uses, metric entries by its buckets."""
    from chartmogul_emulator.account import Account
    from chartmogul_emulator.metrics import buckets

    account = Account.build(SEED, customers, activities)
    start = int(dt.datetime.fromisoformat(START_DATE.replace("Z", "+00:00")).timestamp())
    end = int(dt.datetime.fromisoformat(END_DATE.replace("Z", "+00:00")).timestamp())
    first_day = dt.date.fromisoformat(START_DATE[:10])
    before_start = account.activities_up_to(start - 1)
    return {
        "ours": {"customers": len(account.customers),
                 "activities": account.activities_up_to(end) - before_start,
                 "customer_count": len(buckets(first_day, dt.date.fromisoformat(END_DATE[:10]), "month"))},
        # the official connector sends no end-date for activities, and today's date for the metric
        "official": {"customers": len(account.customers),
                     "activities": account.activity_count - before_start,
                     "customer_monthly_count": len(buckets(first_day, dt.date.fromisoformat(official_end_day),
                                                           "month"))},
    }


# ---------------------------------------------------------------------------------------------- the connectors

@dataclass
class Connector:
    label: str
    command: list[str]
    streams: dict[str, str]  # stream name -> emulator endpoint template
    config: dict[str, Any]
    catalog: dict[str, Any]
    point_at: Callable[[str], None] = lambda url: None  # called with the emulator's URL before each run
    env: dict[str, str] | None = None  # set for its process, beside the bench's own environment
    truth_of: str = ""  # whose expected counts it is held to ("ours" or "official"; default: its label)


def our_connector(base_url: str, mode: Mode, concurrency: int | None, speed: str | None = None) -> Connector:
    """This connector; `speed`, the SOURCE_CHARTMOGUL_SPEED it runs with (None: unset, the layer on), names it
    `ours` or `ours speed=<setting>`."""
    config: dict[str, Any] = {"api_key": API_KEY, "start_date": START_DATE, "end_date": END_DATE,
                              "interval": "month", "base_url": base_url}
    if not mode.limits:
        config["max_requests_per_second"] = UNPACED_REQUESTS_PER_SECOND
    if concurrency is not None:
        config["concurrency_level"] = concurrency
    entries = json.loads(CATALOG_PATH.read_text())["streams"]
    streams = ({entry["stream"]["name"]: endpoint_template(entry["stream"]["name"]) for entry in entries}
               if mode.all_streams else OUR_STREAMS)
    catalog = {"streams": [entry for entry in entries if entry["stream"]["name"] in streams]}
    label = "ours" if speed in (None, "on") else f"ours speed={speed}"
    return Connector(label, [str(OUR_VENV / "bin" / "source-chartmogul")], streams, config, catalog,
                     env=None if speed is None else {"SOURCE_CHARTMOGUL_SPEED": speed}, truth_of="ours")


def official_connector(venv: Path) -> Connector:
    catalog = {"streams": [
        {"stream": {"name": name, "json_schema": {}, "supported_sync_modes": ["full_refresh"],
                    "source_defined_primary_key": [[key]]},
         "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}
        for name, key in OFFICIAL_PRIMARY_KEYS.items()]}
    return Connector("official", [str(venv / "bin" / "source-chartmogul")], OFFICIAL_STREAMS,
                     {"api_key": API_KEY, "start_date": START_DATE}, catalog,
                     point_at=lambda url: point_official_manifest(venv, url))


def find_python310(explicit: str | None) -> str | None:
    pyenv_pythons = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.10*/bin/python3.10")), reverse=True)
    candidates = [explicit] if explicit else [shutil.which("python3.10"), *pyenv_pythons]
    for candidate in filter(None, candidates):
        # a pyenv shim exists on PATH even when it refuses to run: try each one
        try:
            check = subprocess.run([candidate, "-c", "import sys; assert sys.version_info[:2] == (3, 10)"],
                                   capture_output=True)
        except OSError:  # not there, or not executable
            continue
        if check.returncode == 0:
            return candidate
    return None


def official_manifest(venv: Path) -> Path:
    found = glob.glob(str(venv / "lib" / "python3.10" / "site-packages" / "source_chartmogul" / "manifest.yaml"))
    if not found:
        raise BenchError(f"no source_chartmogul/manifest.yaml in {venv}")
    return Path(found[0])


def install_into(venv: Path, requirement: str, interpreter: str = sys.executable) -> None:
    """pip install `requirement` into `venv`, created with `interpreter` first if it does not exist. A step that
    fails stops the bench with its last line of output."""
    steps = [[str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
              requirement]]
    if not (venv / "bin" / "python").exists():
        steps.insert(0, [interpreter, "-m", "venv", str(venv)])
    for step in steps:
        result = subprocess.run(step, capture_output=True, text=True)
        if result.returncode != 0:
            lines = (result.stderr or result.stdout).strip().splitlines()
            raise BenchError(f"{' '.join(step[:3])} ... failed: {lines[-1] if lines else result.returncode}")


def install_ours() -> None:
    """This connector as users get it (`pip install .`, as the Docker image): not the editable install of `make`, whose
    test and demo dependencies (PyAirbyte's boto3, pyOpenSSL) the CDK would import at start-up. Reinstalled every
    bench, from the working tree; the virtualenv and its dependencies are kept."""
    print(f"installing this connector into {OUR_VENV.relative_to(ROOT)} ...", flush=True)
    install_into(OUR_VENV, str(ROOT))


def ensure_official_venv(python310: str | None) -> Path:
    """The official connector's virtualenv, created and installed once, then reused."""
    marker = OFFICIAL_VENV / ".bench-installed"
    if marker.exists() and marker.read_text().strip() == OFFICIAL_PACKAGE:
        return OFFICIAL_VENV
    interpreter = find_python310(python310)
    if interpreter is None:
        raise BenchError("Python 3.10 not found (tried python3.10 on PATH and ~/.pyenv/versions/3.10*); "
                         "pass --python310 PATH")
    print(f"installing {OFFICIAL_PACKAGE} into {OFFICIAL_VENV.relative_to(ROOT)} with {interpreter} (once) ...",
          flush=True)
    shutil.rmtree(OFFICIAL_VENV, ignore_errors=True)
    install_into(OFFICIAL_VENV, OFFICIAL_PACKAGE, interpreter)
    manifest = official_manifest(OFFICIAL_VENV)
    shutil.copyfile(manifest, manifest.with_name("manifest.yaml.pristine"))
    marker.write_text(OFFICIAL_PACKAGE + "\n")
    return OFFICIAL_VENV


def point_official_manifest(venv: Path, url: str | None) -> None:
    """Rewrite the official manifest's API host to ``url`` (None: restore the pristine manifest)."""
    manifest = official_manifest(venv)
    pristine = manifest.with_name("manifest.yaml.pristine").read_text()
    if pristine.count(OFFICIAL_HOST_LINE) != 1:
        raise BenchError(f"expected one '{OFFICIAL_HOST_LINE}' in the official manifest")
    manifest.write_text(pristine if url is None else pristine.replace(OFFICIAL_HOST_LINE, f"url_base: {url}"))


# ---------------------------------------------------------------------------------------------- one sync

@dataclass
class SyncOutcome:
    wall_s: float
    exit_code: int
    peak_rss_mb: float
    cpu_user_s: float
    cpu_sys_s: float
    records: dict[str, int]
    last_record_s: dict[str, float]
    error: str | None
    timed_out: bool
    killed: bool = False  # by kill_when, as asked


KILL_POLL_S = 0.02


def run_sync(connector: Connector, workdir: Path, timeout_s: float, stderr_path: Path,
             state: list[dict[str, Any]] | None = None, stdout_path: Path | None = None,
             kill_when: Callable[[], bool] | None = None) -> SyncOutcome:
    """One ``read`` in a child process (from ``state`` if given); its records counted per stream as they stream, its
    rusage from wait4; its stdout also copied to ``stdout_path`` if given. ``kill_when`` is asked every 20 ms: once it
    answers true, the sync is SIGKILLed (as a crashed worker dies), which is then no error."""
    config_path, catalog_path = workdir / f"{connector.label}-config.json", workdir / f"{connector.label}-catalog.json"
    config_path.write_text(json.dumps(connector.config))
    catalog_path.write_text(json.dumps(connector.catalog))
    state_args: list[str] = []
    if state is not None:
        state_path = workdir / f"{connector.label}-state.json"
        state_path.write_text(json.dumps(state))
        state_args = ["--state", str(state_path)]
    records = {stream: 0 for stream in connector.streams}
    last_record_s: dict[str, float] = {}
    trace_errors: list[str] = []
    log_errors: list[str] = []
    timed_out, killed = threading.Event(), threading.Event()
    reaped = threading.Event()
    reap_lock = threading.Lock()  # the watchdog never signals a process group once its leader has been reaped

    with stderr_path.open("wb") as stderr, (stdout_path.open("wb") if stdout_path else open(os.devnull, "wb")) as copy:
        began = time.perf_counter()
        process = subprocess.Popen(connector.command + ["read", "--config", str(config_path), "--catalog",
                                                        str(catalog_path), *state_args],
                                   cwd=workdir, stdout=subprocess.PIPE, stderr=stderr, start_new_session=True,
                                   env={**os.environ, **(connector.env or {})})
        LIVE_PROCESSES.add(process)

        def watchdog() -> None:
            deadline = time.monotonic() + timeout_s
            while not reaped.wait(min(KILL_POLL_S, deadline - time.monotonic()) if kill_when
                                  else deadline - time.monotonic()):
                if kill_when is not None and kill_when():
                    killed.set()
                    signals: tuple[int, ...] = (signal.SIGKILL,)
                    break
                if time.monotonic() >= deadline:
                    timed_out.set()
                    signals = (signal.SIGTERM, signal.SIGKILL)
                    break
            else:
                return
            for signum in signals:
                with reap_lock:
                    if reaped.is_set():
                        return
                    try:
                        os.killpg(process.pid, signum)
                    except ProcessLookupError:
                        return
                if reaped.wait(5):
                    return

        threading.Thread(target=watchdog, daemon=True).start()
        try:
            for line in process.stdout:
                copy.write(line)
                match = RECORD_LINE.match(line)
                if match:
                    stream = match.group(1).decode()
                    records[stream] = records.get(stream, 0) + 1
                    last_record_s[stream] = time.perf_counter()
                elif b'"ERROR"' in line and line.startswith(b"{"):
                    collect_error(line, trace_errors, log_errors)
            os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)  # exited, not yet reaped
            with reap_lock:
                reaped.set()
            _, status, usage = os.wait4(process.pid, 0)
            wall_s = time.perf_counter() - began
            process.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4: Popen must not wait again
        finally:
            reaped.set()
            if process.returncode is None:  # the harness failed or was interrupted mid-sync
                stop_process_group(process)
            LIVE_PROCESSES.discard(process)
    error = None
    if timed_out.is_set():
        error = f"timed out after {timeout_s:.0f} s"
    elif killed.is_set():
        error = trace_errors[0] if trace_errors else None
    elif process.returncode != 0 or trace_errors:
        fallback = last_line(stderr_path) or f"exit code {process.returncode}"
        error = (trace_errors[:1] or log_errors[-1:] or [fallback])[0]
    return SyncOutcome(wall_s=wall_s, exit_code=process.returncode, peak_rss_mb=usage.ru_maxrss * 1024 / 1e6,
                       cpu_user_s=usage.ru_utime, cpu_sys_s=usage.ru_stime, records=records,
                       last_record_s={s: t - began for s, t in last_record_s.items()}, error=error,
                       timed_out=timed_out.is_set(), killed=killed.is_set())


def collect_error(line: bytes, trace_errors: list[str], log_errors: list[str]) -> None:
    """Keep the one-line text of a TRACE error (the sync failed) or of an ERROR log message (an explanation)."""
    try:
        message = json.loads(line)
    except ValueError:
        return
    if message.get("type") == "TRACE" and message["trace"].get("type") == "ERROR":
        trace_errors.append(" ".join(str(message["trace"]["error"].get("message", "")).split())[:300])
    elif message.get("type") == "LOG" and message["log"].get("level") in ("ERROR", "FATAL"):
        log_errors.append(" ".join(str(message["log"].get("message", "")).split())[:300])


def last_line(path: Path) -> str:
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1].strip()[:300] if lines else ""


# ---------------------------------------------------------------------------------------------- runs and results

@dataclass
class RunResult:
    connector: str
    run: int
    wall_s: float
    records_per_s: float
    records_total: int
    records: dict[str, int]
    expected: dict[str, int]
    stream_done_s: dict[str, float]
    requests_total: int
    requests: dict[str, int]  # per stream (its endpoint), all statuses
    requests_other: dict[str, int]  # endpoints none of the streams reads
    statuses: dict[str, int]
    rate_limited_429: int
    connection_limited_503: int
    peak_requests_per_second: int
    peak_in_flight: int
    shortest_span_over_rate_limit_s: float | None  # the fewest seconds RATE_LIMIT + 1 requests arrived in
    faults: dict[str, int]
    peak_rss_mb: float
    cpu_user_s: float
    cpu_sys_s: float
    exit_code: int
    error: str | None
    killed: bool  # SIGKILLed half-way on purpose (resume mode)
    # the machine is shared and our manifest is being edited: what each run measured, and next to what
    cpu_busy_before_pct: float
    manifest_sha256: str
    mismatches: dict[str, dict[str, int]]  # stream -> records delivered and expected, where they differ


def machine_busy_pct(seconds: float = 1.0) -> float:
    """How busy all CPUs were over the next ``seconds`` (from /proc/stat): the emulator idles between runs, so
    anything above a few percent is another process that will compete with the next sync."""
    def sample() -> tuple[int, int]:
        fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(fields), fields[3] + fields[4]  # total, idle + iowait
    total_before, idle_before = sample()
    time.sleep(seconds)
    total_after, idle_after = sample()
    spent = total_after - total_before
    return 100 * (1 - (idle_after - idle_before) / spent) if spent else 0.0


def measure(connector: Connector, emulator: EmulatorProcess, run: int, expected: dict[str, int], timeout_s: float,
            workdir: Path, log_dir: Path, **sync_options: Any) -> RunResult:
    """One sync (``run_sync``, with ``sync_options``) and the emulator's counters of it, reset just before."""
    connector.point_at(emulator.url)
    cpu_busy_before_pct = machine_busy_pct()
    manifest_sha256 = hashlib.sha256((ROOT / "source_chartmogul" / "manifest.yaml").read_bytes()).hexdigest()[:12]
    emulator.reset_stats()
    outcome = run_sync(connector, workdir, timeout_s, log_dir / f"{connector.label}-run{run}.stderr.log",
                       **sync_options)
    stats = emulator.stats()
    per_endpoint = {path: sum(counts.values()) for path, counts in stats["requests"].items()}
    records_total = sum(outcome.records.values())
    return RunResult(
        connector=connector.label, run=run, wall_s=round(outcome.wall_s, 3),
        records_per_s=round(records_total / outcome.wall_s, 1), records_total=records_total,
        records=outcome.records, expected=expected,
        stream_done_s={s: round(t, 3) for s, t in outcome.last_record_s.items()},
        requests_total=stats["total_requests"],
        requests={stream: per_endpoint.get(path, 0) for stream, path in connector.streams.items()},
        requests_other={path: n for path, n in per_endpoint.items() if path not in connector.streams.values()},
        statuses=stats["statuses"], rate_limited_429=stats["rate_limited_429"],
        connection_limited_503=stats["connection_limited_503"],
        peak_requests_per_second=stats["peak_requests_per_second"], peak_in_flight=stats["peak_in_flight"],
        shortest_span_over_rate_limit_s=stats["shortest_span_over_rate_limit_s"], faults=stats["faults"],
        peak_rss_mb=round(outcome.peak_rss_mb, 1), cpu_user_s=round(outcome.cpu_user_s, 2),
        cpu_sys_s=round(outcome.cpu_sys_s, 2), exit_code=outcome.exit_code, error=outcome.error,
        killed=outcome.killed,
        cpu_busy_before_pct=round(cpu_busy_before_pct, 1), manifest_sha256=manifest_sha256,
        mismatches={stream: {"records": outcome.records.get(stream, 0), "expected": n}
                    for stream, n in expected.items() if outcome.records.get(stream, 0) != n})


MEDIAN_FIELDS = ("wall_s", "records_per_s", "records_total", "requests_total", "rate_limited_429",
                 "connection_limited_503", "peak_requests_per_second", "peak_in_flight", "peak_rss_mb",
                 "cpu_user_s", "cpu_sys_s")


def medians(runs: list[RunResult]) -> dict[str, Any] | None:
    """Medians of the successful runs (None if none succeeded); per-stream figures too."""
    good = [r for r in runs if r.error is None]
    if not good:
        return None
    summary: dict[str, Any] = {"runs": len(good)}
    summary.update({name: statistics.median(getattr(r, name) for r in good) for name in MEDIAN_FIELDS})
    streams = good[0].records.keys()
    summary["streams"] = {
        stream: {"records": statistics.median(r.records.get(stream, 0) for r in good),
                 "expected": good[0].expected.get(stream),
                 "requests": statistics.median(r.requests.get(stream, 0) for r in good),
                 "done_s": statistics.median(r.stream_done_s.get(stream, 0.0) for r in good)}
        for stream in streams}
    return summary


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    return numerator / denominator if numerator is not None and denominator else None


def verdicts(mode: Mode, ours: dict[str, Any] | None, official: dict[str, Any] | None,
             our_runs: list[RunResult]) -> list[tuple[str, bool | None, str]]:
    """(target, met? None when not measured, the figure) for the mode's targets."""
    targets: list[tuple[str, bool | None, str]] = []
    if mode.name == "rss1m":  # a ceiling: the highest run counts, not the median
        rss = max((r.peak_rss_mb for r in our_runs if r.error is None), default=None)
        targets.append((f"peak RSS < {RSS_TARGET_MB} MB in every run", None if rss is None else rss < RSS_TARGET_MB,
                        "not measured" if rss is None else f"highest {rss:.0f} MB"))
    if mode.name == "cpu":
        speedup = ratio(ours and ours["records_per_s"], official and official["records_per_s"])
        targets.append(("records/s >= 10x the official", None if speedup is None else speedup >= 10,
                        "not measured" if speedup is None else f"{speedup:.1f}x"))
    floor_ceiling = FLOOR_CEILINGS.get(mode.name)
    if floor_ceiling:
        floor_ratio = ratio(ours and ours["wall_s"], ours and ours["requests_total"] / RATE_LIMIT)
        targets.append((f"wall <= {floor_ceiling}x the rate-limit floor",
                        None if floor_ratio is None else floor_ratio <= floor_ceiling,
                        "not measured" if floor_ratio is None else f"{floor_ratio:.3f}x"))
    if mode.name == "realistic":
        speedup = ratio(official and official["wall_s"], ours and ours["wall_s"])
        targets.append((">= 10x faster than the official (wall)", None if speedup is None else speedup >= 10,
                        "not measured" if speedup is None else f"{speedup:.1f}x"))
    refused = [(r.rate_limited_429, r.connection_limited_503) for r in our_runs]
    if mode.arrival_delay:
        shares = [r.rate_limited_429 / r.requests_total for r in our_runs if r.requests_total]
        targets.append((f"429s at most {NETWORK_429_SHARE:.1%} of the requests and zero 503 in every run (ours)",
                        all(share <= NETWORK_429_SHARE for share in shares) and all(b == 0 for _, b in refused)
                        if shares else None,
                        "429 share / 503 per run: " + ", ".join(f"{share:.3%} / {b}" for share, (_, b) in
                                                               zip(shares, refused)) if shares else "no runs"))
        return targets
    clean = all(r == (0, 0) for r in refused)
    targets.append(("zero 429 and zero 503 in every run (ours)", clean if refused else None,
                    "429/503 per run: " + ", ".join(f"{a}/{b}" for a, b in refused) if refused else "no runs"))
    return targets


# ---------------------------------------------------------------------------------------------- reporting

def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


RUN_COLUMNS = ("connector", "run", "wall s", "records", "rec/s", "requests", "peak req/s", "peak in-flight",
               "429", "503", "RSS MB", "CPU s", "status")


def run_row(label: str, run: str, figures: dict[str, Any], status: str) -> list[str]:
    return [label, run, fmt(figures["wall_s"], 2), fmt(figures["records_total"], 0), fmt(figures["records_per_s"], 0),
            fmt(figures["requests_total"], 0), fmt(figures["peak_requests_per_second"], 0),
            fmt(figures["peak_in_flight"], 0), fmt(figures["rate_limited_429"], 0),
            fmt(figures["connection_limited_503"], 0), fmt(figures["peak_rss_mb"], 0),
            fmt(figures["cpu_user_s"] + figures["cpu_sys_s"], 1), status]


def text_table(header: tuple[str, ...] | list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    lines = ["  ".join(str(cell).rjust(width) if i > 1 else str(cell).ljust(width)
                       for i, (cell, width) in enumerate(zip(line, widths))) for line in [list(header), *rows]]
    return "\n".join(lines)


def markdown_table(header: tuple[str, ...] | list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def mode_report(result: dict[str, Any], markdown: bool) -> str:
    """The readable report of one mode: runs, medians, per-stream figures, ratios, floor, targets."""
    table = markdown_table if markdown else text_table
    mode = MODES[result["mode"]]
    account = result["account"]
    limits = (f"limits {RATE_LIMIT} req/s and {MAX_CONNECTIONS} in flight" if mode.limits
              else f"limits off (our pacing lifted: max_requests_per_second={UNPACED_REQUESTS_PER_SECOND})")
    way = f", arrival delay {mode.arrival_delay} ms" if mode.arrival_delay else ""
    beside = f"; beside {result['beside_cpu_load']} CPU-bound process(es)" if result.get("beside_cpu_load") else ""
    heading = (f"{mode.name}{' (quick)' if result['quick'] else ''}: {account['customers']:,} customers, "
               f"{account['activities']:,} activities, latency {mode.latency_ms:.0f} +- {mode.jitter_ms:.0f} ms{way}, "
               f"{limits}; seed {SEED}; our concurrency_level: {result['concurrency'] or 'connector default'}{beside}")
    out = [f"## {heading}" if markdown else f"=== {heading}"]
    if result.get("note"):
        out.append(result["note"])
    rows = []
    for run in result["runs"]:
        rows.append(run_row(run["connector"], str(run["run"]), run, "ok" if run["error"] is None else "FAILED"))
    for label, summary in result["medians"].items():
        if summary:
            rows.append(run_row(label, f"median of {summary['runs']}", summary, ""))
    out += ["", table(RUN_COLUMNS, rows)]
    stream_rows = []
    for label, summary in result["medians"].items():
        for stream, figures in (summary or {}).get("streams", {}).items():
            done = figures["done_s"]
            stream_rows.append([label, stream, fmt(figures["records"], 0), fmt(figures["expected"], 0),
                                fmt(figures["requests"], 0), fmt(done, 2),
                                fmt(figures["records"] / done if done else None, 0)])
    if stream_rows:
        out += ["", "Per stream (medians; 'done at' = last record, from process start):", "",
                table(("connector", "stream", "records", "expected", "requests", "done at s", "rec/s"), stream_rows)]
    out.append("")
    out += [f"- {line}" if markdown else line for line in result["findings"]]
    return "\n".join(out)


def findings(mode: Mode, result: dict[str, Any]) -> list[str]:
    """Ratios, the rate-limit floor, warnings and the targets, as lines."""
    ours, official = result["medians"].get("ours"), result["medians"].get("official")
    lines = []
    for run in result["runs"]:
        if run["error"]:
            lines.append(f"ERROR: {run['connector']} run {run['run']}: {run['error']}")
        for stream, counts in run["mismatches"].items():
            lines.append(f"WARNING: {run['connector']} run {run['run']}: {stream} delivered {counts['records']:,} "
                         f"records, the emulator's ground truth is {counts['expected']:,}")
        if run["cpu_busy_before_pct"] > BUSY_WARNING_PCT:
            lines.append(f"WARNING: {run['connector']} run {run['run']}: the CPUs were "
                         f"{run['cpu_busy_before_pct']:.0f} % busy in the second before it started: "
                         "other processes competed with it")
        if run["faults"]:
            lines.append(f"WARNING: {run['connector']} run {run['run']}: the emulator served faults {run['faults']}")
    manifests = {run["manifest_sha256"] for run in result["runs"] if run["connector"] == "ours"}
    if len(manifests) > 1:
        lines.append(f"WARNING: our manifest changed between runs (sha256 {', '.join(sorted(manifests))})")
    if ours and official:
        lines.append(f"ours / official: records/s {ours['records_per_s'] / official['records_per_s']:.1f}x, "
                     f"wall time {official['wall_s'] / ours['wall_s']:.1f}x shorter "
                     f"({ours['wall_s']:.1f} s vs {official['wall_s']:.1f} s)")
    unlimited = "" if mode.limits else " (no limit enforced in this mode: for reference only)"
    for label, summary in (("ours", ours), ("official", official)):
        if summary:
            floor = summary["requests_total"] / RATE_LIMIT
            lines.append(f"rate-limit floor ({label}): {summary['requests_total']:,.0f} requests / {RATE_LIMIT} per s "
                         f"= {floor:.1f} s; wall = {summary['wall_s'] / floor:.3f}x the floor{unlimited}; 429s "
                         f"{summary['rate_limited_429'] / summary['requests_total']:.3%} of the requests")
    for target, met, figure in result["targets"]:
        if met is None:
            lines.append(f"target: {target}: not measured")
        else:
            lines.append(f"target: {target}: {'MET' if met else 'NOT MET'} ({figure})")
    return lines


# ---------------------------------------------------------------------------------------------- a mode

def run_mode(mode: Mode, args: argparse.Namespace, official_venv: Path | None, pool: ProcessPoolExecutor) -> dict:
    customers = mode.quick_customers if args.quick else mode.customers
    activities = mode.quick_activities if args.quick else mode.activities
    official_runs, note = 0, ""
    if mode.with_official:
        if args.official_runs == 0:
            note = "The official connector was not run (--official-runs 0)."
        elif official_venv is None:
            note = "The official connector could not be measured (see the error above)."
        elif args.official_runs is not None:
            official_runs = args.official_runs
        elif mode.name == "realistic":
            official_runs = 1
            note = ("The official connector runs once here (default in realistic mode: one sync takes about "
                    "7 minutes, and the whole bench should stay under ~25; --official-runs N for more).")
        else:
            official_runs = args.runs
    suffix = results_suffix(args)
    log_dir = RESULTS_DIR / "logs" / f"{mode.name}{suffix}"
    log_dir.mkdir(parents=True, exist_ok=True)

    print(f"\n[{mode.name}] starting the emulator ({customers:,} customers, {activities:,} activities) ...", flush=True)
    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    truth = (pool.submit(expected_counts_of_every_stream, customers, activities) if mode.all_streams
             else pool.submit(expected_counts, customers, activities, today))
    runs: list[RunResult] = []
    with (EmulatorProcess(mode, customers, activities, log_dir / "emulator.stderr.log") as emulator,
          tempfile.TemporaryDirectory() as scratch):
        expected = truth.result()
        # our variants (--speed) take turns run by run, so that each sees the machine as the others do
        ours = [our_connector(emulator.url, mode, args.concurrency, speed) for speed in (args.speed or [None])]
        plan = [(connector, run, args.runs, mode.our_timeout_s) for run in range(1, args.runs + 1) for connector in ours]
        if official_runs:
            official = official_connector(official_venv)
            plan += [(official, run, official_runs, mode.official_timeout_s) for run in range(1, official_runs + 1)]
        for connector, run, count, timeout_s in plan:
            print(f"[{mode.name}] {connector.label} run {run}/{count} ...", end=" ", flush=True)
            result = measure(connector, emulator, run, expected[connector.truth_of or connector.label], timeout_s,
                             Path(scratch), log_dir)
            runs.append(result)
            failure = f" -- FAILED: {result.error}" if result.error else ""
            print(f"{result.wall_s:.1f} s, {result.records_total:,} records, {result.requests_total:,} requests, "
                  f"{result.rate_limited_429} x 429, {result.connection_limited_503} x 503, "
                  f"peak {result.peak_requests_per_second}/s, "
                  f"{RATE_LIMIT + 1} arrived in {fmt(result.shortest_span_over_rate_limit_s, 3)} s at the least, "
                  f"RSS {result.peak_rss_mb:.0f} MB, CPUs {result.cpu_busy_before_pct:.0f} % busy before{failure}",
                  flush=True)
    by_connector = {label: [r for r in runs if r.connector == label] for label in dict.fromkeys(r.connector for r in runs)}
    summary = {label: medians(group) for label, group in by_connector.items() if group}
    result = {
        "mode": mode.name, "quick": args.quick, "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "account": {"seed": SEED, "customers": customers, "activities": activities},
        "beside_cpu_load": args.beside_cpu_load,
        "emulator": {"latency_ms": mode.latency_ms, "jitter_ms": mode.jitter_ms, "limits": mode.limits,
                     "arrival_delay": mode.arrival_delay,
                     "rate_limit": RATE_LIMIT if mode.limits else None,
                     "max_connections": MAX_CONNECTIONS if mode.limits else None},
        "concurrency": args.concurrency, "official_package": OFFICIAL_PACKAGE if official_runs else None,
        "note": note, "expected": expected, "runs": [vars(r) for r in runs], "medians": summary,
        "targets": verdicts(mode, summary.get("ours"), summary.get("official"), by_connector.get("ours", [])),
    }
    result["findings"] = findings(mode, result)
    (RESULTS_DIR / f"results-{mode.name}{suffix}.json").write_text(json.dumps(result, indent=2) + "\n")
    print("\n" + mode_report(result, markdown=False), flush=True)
    return result


# ---------------------------------------------------------------------------------------------- daily and resume

SUBSCRIPTIONS = "customer_subscriptions"
SUBSCRIPTIONS_PATH = re.compile(r"^/v1/customers/([^/]+)/subscriptions$")
DAY_SHARE = 0.01  # of the customers changed by the simulated day (issue 15)
REREAD_DAYS = 7  # subscriptions_reread_days' default: every customer re-read at least every 7 days
DAILY_TARGET = 0.30  # a daily sync's subscription requests, at most this share of a full sync's
RESUME_TARGET = 1.15  # a killed and resumed sync's requests, at most this many clean syncs'


def rotation_bucket(customer_uuid: str, days: int) -> int:
    """The bucket of the customers whose subscriptions are re-read together, every ``days`` days (the connector's
    rule, docs/chartmogul.md)."""
    return zlib.crc32(customer_uuid.encode("utf-8")) % days


def due_buckets(previous_day: int | None, today: int, days: int, state_days: int | None) -> set[int]:
    """The buckets an incremental sync on day ``today`` (UTC days since 1970-01-01) re-reads, after a sync that
    completed on ``previous_day`` with ``state_days`` buckets: every one without such a sync, after ``days`` days or
    more, or when the number of buckets changed; else those of the days since."""
    if previous_day is None or state_days != days or today - previous_day >= days:
        return set(range(days))
    return {day % days for day in range(previous_day + 1, today + 1)}


def classify_rereads(requests: dict[str, int], new_activities: set[str], rotating: set[str]) -> dict[str, dict[str, int]]:
    """The subscription requests per customer, split by why the customer was due: an activity new since the last
    sync (counted there even when its bucket was due too), else its bucket, else no reason (unexplained)."""
    split: dict[str, dict[str, int]] = {"new activities": {}, "rotating share": {}, "unexplained": {}}
    for customer, count in sorted(requests.items()):
        reason = ("new activities" if customer in new_activities else "rotating share" if customer in rotating
                  else "unexplained")
        split[reason][customer] = count
    return split


def union_of_attempts(clean: Counter, attempts: list[Counter]) -> dict[str, int]:
    """The records of the attempts together against those of a clean sync (multisets of record digests): missing,
    unexpected (in no clean record) and duplicated (a clean record delivered more often than the clean sync did)."""
    union: Counter = Counter()
    for attempt in attempts:
        union.update(attempt)
    return {"missing": sum(n - union[key] for key, n in clean.items() if union[key] < n),
            "unexpected": sum(n for key, n in union.items() if key not in clean),
            "duplicated": sum(n - clean[key] for key, n in union.items() if key in clean and n > clean[key])}


def record_digest(data: dict[str, Any]) -> bytes:
    return hashlib.blake2b(json.dumps(data, sort_keys=True).encode(), digest_size=16).digest()


@dataclass
class SyncOutput:
    records: dict[str, Counter]  # stream -> digests of its records' data
    states: dict[str, dict[str, Any]]  # stream -> its last STATE message's state (an AirbyteStateMessage)
    kept: dict[str, list[dict[str, Any]]]  # the records' data of the streams asked for


def read_output(path: Path, keep: tuple[str, ...] = ()) -> SyncOutput:
    """The records and last states a sync wrote to stdout (copied to ``path``); a line that a kill cut short is left
    out, as the platform would."""
    output = SyncOutput({}, {}, {stream: [] for stream in keep})
    with path.open("rb") as lines:
        for line in lines:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if message.get("type") == "RECORD":
                record = message["record"]
                output.records.setdefault(record["stream"], Counter())[record_digest(record["data"])] += 1
                if record["stream"] in output.kept:
                    output.kept[record["stream"]].append(record["data"])
            elif message.get("type") == "STATE" and message["state"].get("type") == "STREAM":
                stream = message["state"]["stream"]
                output.states[stream["stream_descriptor"]["name"]] = {"type": "STREAM", "stream": stream}
    return output


def discovered_streams(connector: Connector, workdir: Path) -> dict[str, dict[str, Any]]:
    """``discover``: each stream as the connector describes it (its sync modes, cursor, primary key)."""
    config_path, stderr_path = workdir / "discover-config.json", workdir / "discover.stderr.log"
    config_path.write_text(json.dumps(connector.config))
    with stderr_path.open("wb") as stderr:
        result = subprocess.run(connector.command + ["discover", "--config", str(config_path)],
                                stdout=subprocess.PIPE, stderr=stderr, cwd=workdir, timeout=120)
    for line in result.stdout.splitlines():
        if line.startswith(b"{") and b'"CATALOG"' in line:
            return {stream["name"]: stream for stream in json.loads(line)["catalog"]["streams"]}
    raise BenchError(f"discover gave no catalog: {last_line(stderr_path) or result.returncode}")


def incremental_where_supported(discovered: dict[str, dict[str, Any]], streams: list[str]) -> dict[str, Any]:
    """A catalog of ``streams``: incremental (append + dedup) where discover says it is supported, else full refresh."""
    entries = []
    for name in streams:
        stream = discovered[name]
        if "incremental" in stream["supported_sync_modes"]:
            entries.append({"stream": stream, "sync_mode": "incremental", "destination_sync_mode": "append_dedup",
                            "cursor_field": stream.get("default_cursor_field") or [],
                            "primary_key": stream.get("source_defined_primary_key") or []})
        else:
            entries.append({"stream": stream, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"})
    return {"streams": entries}


def utc_day_number(when: dt.datetime) -> int:
    return (when.date() - dt.date(1970, 1, 1)).days


def print_sync(mode: Mode, label: str, result: RunResult) -> None:
    failure = f" -- FAILED: {result.error}" if result.error else ""
    print(f"[{mode.name}] {label}: {result.wall_s:.1f} s, {result.records_total:,} records, "
          f"{result.requests_total:,} requests, {result.rate_limited_429} x 429, "
          f"{result.connection_limited_503} x 503, "
          f"peak {result.peak_requests_per_second}/s{' (killed)' if result.killed else ''}{failure}", flush=True)


def scenario_result(mode: Mode, args: argparse.Namespace, customers: int, activities: int,
                    syncs: list[tuple[str, RunResult]], figures: dict[str, Any],
                    targets: list[tuple[str, bool | None, str]], notes: list[str], wrong_records: bool) -> dict:
    return {"mode": mode.name, "quick": args.quick,
            "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "account": {"seed": SEED, "customers": customers, "activities": activities},
            "concurrency": args.concurrency, "runs": [{**vars(run), "label": label} for label, run in syncs],
            "figures": figures, "targets": targets, "wrong_records": wrong_records,
            "findings": notes + [f"target: {target}: {'not measured' if met is None else 'MET' if met else 'NOT MET'}"
                                 f" ({figure})" for target, met, figure in targets]}


def run_daily(mode: Mode, args: argparse.Namespace, customers: int, activities: int, expected: dict[str, int],
              emulator: EmulatorProcess, workdir: Path, log_dir: Path) -> dict:
    """A first sync from no state, a simulated day, a daily sync from the first one's states; the daily sync's
    subscription requests classified and its subscriptions checked against the emulator."""
    base = our_connector(emulator.url, mode, args.concurrency)
    catalog = incremental_where_supported(discovered_streams(base, workdir), list(base.streams))
    sync_modes = {entry["stream"]["name"]: entry["sync_mode"] for entry in catalog["streams"]}
    notes = ["incremental: " + (", ".join(name for name, m in sync_modes.items() if m == "incremental") or "none")]
    first = measure(replace(base, label="first", catalog=catalog), emulator, 1, expected, mode.our_timeout_s,
                    workdir, log_dir, stdout_path=workdir / "first.stdout")
    print_sync(mode, "first sync, from no state", first)
    syncs = [("first sync, from no state", first)]
    if first.error or first.mismatches:
        return scenario_result(mode, args, customers, activities, syncs, {}, [], notes, wrong_records=False)
    states = read_output(workdir / "first.stdout").states
    subscriptions_state = dict(states.get(SUBSCRIPTIONS, {}).get("stream", {}).get("stream_state") or {})
    today = utc_day_number(dt.datetime.now(dt.timezone.utc))
    if "rotation_day" in subscriptions_state:
        # the first sync ran minutes ago; a daily sync runs the day after the last one: the state says so
        subscriptions_state["rotation_day"] = today - 1
        states[SUBSCRIPTIONS]["stream"]["stream_state"] = subscriptions_state
        notes.append(f"{SUBSCRIPTIONS}: the first sync's state dated a day back (rotation_day {today - 1}), as a "
                     "daily sync finds it")
    else:
        notes.append(f"{SUBSCRIPTIONS}: the first sync's state has no rotation_day "
                     f"({json.dumps(subscriptions_state)[:120]}): by the rule, every bucket is due")

    day = emulator.simulate_day(DAY_SHARE, SEED)
    day_end = day["end"][:19] + "Z"
    daily_connector = replace(base, label="daily", catalog=catalog, config={**base.config, "end_date": day_end})
    today = utc_day_number(dt.datetime.now(dt.timezone.utc))
    daily = measure(daily_connector, emulator, 1, {}, mode.our_timeout_s, workdir, log_dir,
                    state=list(states.values()), stdout_path=workdir / "daily.stdout")
    print_sync(mode, "daily sync, from the first one's state, after a simulated day", daily)
    syncs.append(("daily sync, after a simulated day", daily))
    if daily.error:
        return scenario_result(mode, args, customers, activities, syncs, {}, [], notes, wrong_records=False)
    requests = {SUBSCRIPTIONS_PATH.match(path).group(1): n  # type: ignore[union-attr]
                for path, n in emulator.paths("/v1/customers/").items() if SUBSCRIPTIONS_PATH.match(path)}

    # why each customer was due: an activity new since the first sync (the day's; the bench's day back-dates none) ...
    cursor = ((subscriptions_state.get("parent_state") or {}).get("activities") or {}).get("date")
    notes.append(f"activities cursor: {cursor} (from the {SUBSCRIPTIONS} state)" if cursor else
                 f"activities cursor: none in the {SUBSCRIPTIONS} state")
    new_activity_customers = set(day["customers_with_activities"])
    # ... or its rotation bucket
    days = REREAD_DAYS  # the bench leaves subscriptions_reread_days at its default
    due = due_buckets(subscriptions_state.get("rotation_day"), today, days, subscriptions_state.get("rotation_days"))
    all_customers = [c["uuid"] for c in emulator.truth("/v1/customers")]
    rotating = {uuid for uuid in all_customers if rotation_bucket(uuid, days) in due}
    split = classify_rereads(requests, new_activity_customers, rotating)
    # what the rule owes the day after a completed sync, whatever this branch's state holds: the target's yardstick
    next_day = due_buckets(today - 1, today, days, days)
    owed = new_activity_customers | {uuid for uuid in all_customers if rotation_bucket(uuid, days) in next_day}

    # exact: every customer read (or delivered) has exactly the emulator's subscriptions now
    delivered: dict[str, Counter] = {}
    for record in read_output(workdir / "daily.stdout", keep=(SUBSCRIPTIONS,)).kept[SUBSCRIPTIONS]:
        delivered.setdefault(record["customer_uuid"], Counter())[json.dumps(record, sort_keys=True)] += 1
    inexact = sorted(uuid for uuid in set(requests) | set(delivered)
                     if delivered.get(uuid, Counter()) != Counter(json.dumps(r, sort_keys=True)
                                                                 for r in customer_subscriptions_of(emulator, uuid)))
    changed_not_read = sorted(set(day["customers_with_activities"]) - set(requests))
    renewed_only_read = len(set(day["customers_renewed_only"]) & set(requests))

    full_requests = first.requests.get(SUBSCRIPTIONS, 0)
    daily_requests = daily.requests.get(SUBSCRIPTIONS, 0)
    share = ratio(daily_requests, full_requests)
    figures = {
        "subscription_requests": {"first": full_requests, "daily": daily_requests},
        "daily_split_requests": {reason: sum(c.values()) for reason, c in split.items()},
        "daily_split_customers": {reason: len(c) for reason, c in split.items()},
        "new_activity_customers": len(new_activity_customers), "due_buckets": sorted(due), "buckets": days,
        "rotating_customers": len(rotating), "owed_the_day_after": len(owed),
        "day": {key: len(value) if isinstance(value, list) else value for key, value in day.items()},
        "changed_customers_not_reread": changed_not_read[:20], "renewed_only_customers_reread": renewed_only_read,
        "inexact_customers": inexact[:20], "inexact_count": len(inexact), "sync_modes": sync_modes,
    }
    notes += [
        f"the day: {len(day['customers_with_activities'])} customers with activities, "
        f"{len(day['renewed_subscriptions'])} subscriptions renewed without one "
        f"({len(day['customers_renewed_only'])} customers), {len(day['invoices'])} invoices",
        f"subscription requests: first sync {full_requests:,}, daily {daily_requests:,} "
        f"({fmt(None if share is None else 100 * share)} %)",
        "daily, by reason: " + ", ".join(f"{reason} {sum(c.values()):,} requests ({len(c):,} customers)"
                                         for reason, c in split.items()),
        f"new activities: {len(new_activity_customers):,} customers with an activity since {cursor}; "
        f"rotating share: buckets {sorted(due)} of {days} (day {today}), "
        f"{len(rotating):,} customers",
        f"owed by the rule the day after a completed sync: {len(owed):,} of {len(all_customers):,} customers "
        f"({100 * len(owed) / len(all_customers):.1f} %: the new activities' customers, and bucket {sorted(next_day)})",
        f"customers renewed without an activity that day, re-read: {renewed_only_read} of "
        f"{len(day['customers_renewed_only'])} (the rest within {days} days, by rotation)",
    ]
    unexplained = split["unexplained"]
    targets = [
        (f"daily subscription requests <= {DAILY_TARGET:.0%} of a full sync's", None if share is None
         else share <= DAILY_TARGET, f"{fmt(None if share is None else 100 * share)} %"),
        ("every subscription request from a new activity or the rotating share", not unexplained,
         f"{sum(unexplained.values())} unexplained" + (f", e.g. {', '.join(list(unexplained)[:3])}"
                                                       if unexplained else "")),
        ("every customer with an activity that day re-read", not changed_not_read,
         f"{len(changed_not_read)} of {len(day['customers_with_activities'])} not re-read"),
        ("every re-read customer's subscriptions exact against the emulator", not inexact,
         f"{len(inexact)} of {len(set(requests) | set(delivered)):,} customers differ"),
    ]
    return scenario_result(mode, args, customers, activities, syncs, figures, targets, notes,
                           wrong_records=bool(inexact))


def run_resume(mode: Mode, args: argparse.Namespace, customers: int, activities: int, expected: dict[str, int],
               emulator: EmulatorProcess, workdir: Path, log_dir: Path) -> dict:
    """A clean full-refresh sync (R requests); one SIGKILLed once the emulator has served R/2; one resumed from the
    last state of each stream the killed one wrote. Requests of both attempts against R, records against the clean."""
    base = our_connector(emulator.url, mode, args.concurrency)
    clean = measure(replace(base, label="clean"), emulator, 1, expected, mode.our_timeout_s, workdir, log_dir,
                    stdout_path=workdir / "clean.stdout")
    print_sync(mode, "clean sync", clean)
    syncs = [("clean sync", clean)]
    if clean.error or clean.mismatches:
        return scenario_result(mode, args, customers, activities, syncs, {}, [], [], wrong_records=False)
    half = clean.requests_total // 2
    killed = measure(replace(base, label="killed"), emulator, 1, {}, mode.our_timeout_s, workdir, log_dir,
                     stdout_path=workdir / "killed.stdout",
                     kill_when=lambda: emulator.stats()["total_requests"] >= half)
    print_sync(mode, f"sync SIGKILLed at {half:,} requests served", killed)
    syncs.append((f"killed at {half:,} requests", killed))
    killed_output = read_output(workdir / "killed.stdout")
    resumed = measure(replace(base, label="resumed"), emulator, 1, {}, mode.our_timeout_s, workdir, log_dir,
                      state=list(killed_output.states.values()), stdout_path=workdir / "resumed.stdout")
    print_sync(mode, "resumed from the killed sync's last states", resumed)
    syncs.append(("resumed from the last states", resumed))
    if not killed.killed or killed.error or resumed.error:
        notes = [] if killed.killed else ["the sync to kill ended before half its requests"]
        return scenario_result(mode, args, customers, activities, syncs, {}, [], notes, wrong_records=False)
    clean_records = read_output(workdir / "clean.stdout").records
    resumed_records = read_output(workdir / "resumed.stdout").records
    per_stream = {stream: union_of_attempts(records, [killed_output.records.get(stream, Counter()),
                                                      resumed_records.get(stream, Counter())])
                  for stream, records in clean_records.items()}
    both = killed.requests_total + resumed.requests_total
    request_ratio = both / clean.requests_total
    totals = {key: sum(counts[key] for counts in per_stream.values()) for key in ("missing", "unexpected",
                                                                                 "duplicated")}
    resumed_from = Counter("the sentinel (finished)" if s["stream"].get("stream_state") ==
                           {"__ab_no_cursor_state_message": True} else "a checkpoint"
                           for s in killed_output.states.values())
    notes = [
        f"requests: clean {clean.requests_total:,}; killed {killed.requests_total:,} + resumed "
        f"{resumed.requests_total:,} = {both:,} ({request_ratio:.2f}x the clean sync)",
        f"states the killed sync left: {len(killed_output.states)} of {len(clean_records)} streams ("
        + (", ".join(f"{n} {kind}" for kind, n in sorted(resumed_from.items())) or "none") + ")",
        "records of both attempts against the clean sync: " + ", ".join(f"{n:,} {key}" for key, n in totals.items()),
    ] + [f"  {stream}: " + ", ".join(f"{n:,} {key}" for key, n in counts.items() if n)
         for stream, counts in per_stream.items() if any(counts.values())]
    targets = [
        (f"requests of both attempts <= {RESUME_TARGET}x a clean sync's", request_ratio <= RESUME_TARGET,
         f"{request_ratio:.2f}x"),
        ("the union of both attempts' records is the clean sync's, per stream (nothing missing or unexpected)",
         totals["missing"] == totals["unexpected"] == 0,
         f"{totals['missing']:,} missing, {totals['unexpected']:,} unexpected; {totals['duplicated']:,} duplicated"),
    ]
    figures = {"requests": {"clean": clean.requests_total, "killed": killed.requests_total,
                            "resumed": resumed.requests_total}, "ratio": round(request_ratio, 3),
               "kill_at_requests": half, "states_left": {name: s["stream"].get("stream_state")
                                                         for name, s in killed_output.states.items()},
               "records": per_stream}
    return scenario_result(mode, args, customers, activities, syncs, figures, targets, notes,
                           wrong_records=bool(totals["missing"] or totals["unexpected"]))


SCENARIOS = {"daily": run_daily, "resume": run_resume}


def run_scenario(mode: Mode, args: argparse.Namespace, pool: ProcessPoolExecutor) -> dict:
    customers = mode.quick_customers if args.quick else mode.customers
    activities = mode.quick_activities if args.quick else mode.activities
    suffix = results_suffix(args)
    log_dir = RESULTS_DIR / "logs" / f"{mode.name}{suffix}"
    log_dir.mkdir(parents=True, exist_ok=True)
    print(f"\n[{mode.name}] starting the emulator ({customers:,} customers, {activities:,} activities) ...", flush=True)
    truth = pool.submit(expected_counts_of_every_stream, customers, activities)
    with (EmulatorProcess(mode, customers, activities, log_dir / "emulator.stderr.log") as emulator,
          tempfile.TemporaryDirectory() as scratch):
        result = SCENARIOS[mode.name](mode, args, customers, activities, truth.result()["ours"], emulator,
                                      Path(scratch), log_dir)
    (RESULTS_DIR / f"results-{mode.name}{suffix}.json").write_text(json.dumps(result, indent=2) + "\n")
    print("\n" + scenario_report(result, markdown=False), flush=True)
    return result


def scenario_report(result: dict[str, Any], markdown: bool) -> str:
    mode = MODES[result["mode"]]
    account = result["account"]
    heading = (f"{mode.name}{' (quick)' if result['quick'] else ''}: {account['customers']:,} customers, "
               f"{account['activities']:,} activities, latency {mode.latency_ms:.0f} +- {mode.jitter_ms:.0f} ms, "
               f"limits {RATE_LIMIT} req/s and {MAX_CONNECTIONS} in flight; seed {SEED}; our concurrency_level: "
               f"{result['concurrency'] or 'connector default'}")
    rows = [run_row("ours", run["label"], run, "killed" if run["killed"] else "FAILED" if run["error"] else "ok")
            for run in result["runs"]]
    errors = [f"ERROR: {run['label']}: {run['error']}" for run in result["runs"] if run["error"]]
    errors += [f"WARNING: {run['label']}: {stream} delivered {counts['records']:,} records, the emulator's ground "
               f"truth is {counts['expected']:,}"
               for run in result["runs"] for stream, counts in run["mismatches"].items()]
    lines = errors + result["findings"]
    return "\n".join([f"## {heading}" if markdown else f"=== {heading}", "",
                      (markdown_table if markdown else text_table)(RUN_COLUMNS, rows), ""]
                     + [f"- {line}" if markdown else line for line in lines])


def results_suffix(args: argparse.Namespace) -> str:
    """Of the results' file names: a quick or busy bench does not overwrite the figures of a full, idle one."""
    return ("-quick" if args.quick else "") + (f"-beside{args.beside_cpu_load}cpu" if args.beside_cpu_load else "")


def interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", action="append", choices=list(MODES),
                        help="realistic, cpu, rss1m, full5k, full20k, full20k-network, daily or resume; repeat for several "
                             "(default: realistic and cpu)")
    parser.add_argument("--runs", type=int, default=3, help="syncs per connector and mode (default 3)")
    parser.add_argument("--official-runs", type=int, default=None,
                        help="syncs of the official connector (default: 1 in realistic mode, --runs in cpu mode)")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="our concurrency_level (default: not passed, the connector's own default)")
    parser.add_argument("--quick", action="store_true", help="a small account, to smoke-test the harness")
    parser.add_argument("--speed", action="append", metavar="SETTING",
                        help="run ours with SOURCE_CHARTMOGUL_SPEED=SETTING (on, off, -piece,...); repeat to compare "
                             "settings in the same run, taking turns (default: unset, the speed layer on)")
    parser.add_argument("--python310", help="the Python 3.10 interpreter for the official connector's virtualenv")
    parser.add_argument("--beside-cpu-load", type=int, default=0, metavar="N",
                        help="run N CPU-bound processes beside the whole bench, as a busy machine (default 0)")
    args = parser.parse_args(argv)
    if args.runs < 1 or (args.official_runs is not None and args.official_runs < 0) or args.beside_cpu_load < 0:
        parser.error("--runs must be >= 1, --official-runs and --beside-cpu-load >= 0")
    modes = [MODES[name] for name in dict.fromkeys(args.mode or ["realistic", "cpu"])]

    # SIGTERM (e.g. from make or a CI timeout) unwinds like Ctrl-C, so the finally below stops every child
    signal.signal(signal.SIGTERM, interrupt)
    RESULTS_DIR.mkdir(exist_ok=True)
    official_venv = None
    results = []
    try:
        install_ours()
        for _ in range(args.beside_cpu_load):  # after the install, which it would only slow down
            LIVE_PROCESSES.add(subprocess.Popen(CPU_LOAD_COMMAND, start_new_session=True))
        if any(mode.with_official for mode in modes) and args.official_runs != 0:
            try:
                official_venv = ensure_official_venv(args.python310)
            except BenchError as error:
                print(f"ERROR: the official connector cannot be measured: {error}", flush=True)
        # spawn, not fork: a clean interpreter for the ground truth, whatever threads the harness has
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
            for mode in modes:
                results.append(run_scenario(mode, args, pool) if mode.scenario
                               else run_mode(mode, args, official_venv, pool))
    except BenchError as error:
        print(f"\nERROR: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: emulator and connectors stopped", file=sys.stderr)
        return 130
    finally:
        stop_all_processes()
        if official_venv is not None:
            point_official_manifest(official_venv, None)
    suffix = results_suffix(args)
    summary_path = RESULTS_DIR / f"summary{suffix}.md"
    summary_path.write_text("# source-chartmogul benchmark\n\n" + "\n\n".join(
        (scenario_report if MODES[result["mode"]].scenario else mode_report)(result, markdown=True)
        for result in results) + "\n")
    written = [f"results-{result['mode']}{suffix}.json" for result in results] + [summary_path.name]
    print(f"\nwritten to {RESULTS_DIR.relative_to(ROOT)}/: {', '.join(written)}")
    # unmet targets are findings, not failures; a failed sync or a wrong record count is
    failed = any(run["error"] or run["mismatches"] for result in results for run in result["runs"]) or any(
        result.get("wrong_records") for result in results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
