"""What keeps a request the budget has granted from being held before it leaves: the cyclic collector's full
collections held the GIL 175 ms at 20,000 customers, walking the CDK's heap and a backlog of 10,000 waiting partitions,
and a request held that long arrived in a later second with the ones granted after it (a 429; docs/reliability.md)."""

from __future__ import annotations

import subprocess
import sys
import threading
from importlib.metadata import version

from source_chartmogul import SourceChartmogul
from source_chartmogul.source import PARTITIONS_WAITING_AT_MOST

CONFIG = {"api_key": "sk_unit_pacing_3c9d", "start_date": "2024-01-15T06:30:00Z"}


def test_once_a_hundred_partitions_wait_in_the_thread_pool_the_partition_generators_wait_too() -> None:
    """source.py sets ThreadPoolManager._max_concurrent_tasks of the CDK's ConcurrentSource (_threadpool), which its
    PartitionEnqueuer asks before it queues a partition. A ConcurrentSource.create that takes
    the bound retires it; until then, a CDK upgrade must pass this test."""
    assert version("airbyte-cdk") == "7.39.1"
    pool = SourceChartmogul(config=CONFIG)._concurrent_source._threadpool
    release = threading.Event()
    try:
        for _ in range(PARTITIONS_WAITING_AT_MOST - 1):
            pool.submit(release.wait)
        assert pool.prune_to_validate_has_reached_futures_limit() is False
        pool.submit(release.wait)
        assert pool.prune_to_validate_has_reached_futures_limit() is True
    finally:
        release.set()
    pool._threadpool.shutdown(wait=True)
    assert pool.prune_to_validate_has_reached_futures_limit() is False  # done partitions make room again


def test_a_command_runs_with_the_heap_it_started_with_frozen_and_the_collector_on() -> None:
    program = ("import atexit, gc\n"
               "atexit.register(lambda: print(gc.get_freeze_count(), gc.isenabled()))\n"
               "from source_chartmogul.run import run\n"
               "run(['spec'])\n")
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120, check=True)
    frozen, enabled = result.stdout.splitlines()[-1].split()
    assert int(frozen) > 50_000 and enabled == "True"
