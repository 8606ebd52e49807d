"""The speed layer: every piece of the installed connector that exists only for speed or memory, in one place.

With the layer off the manifest's own rules run, and the connector reads the same records and writes the same states
(the whole suite passes either way). Switch it with the environment variable SOURCE_CHARTMOGUL_SPEED: `off` turns every
piece off; a comma-separated list of `-piece` turns those pieces off (e.g. `-extractor,-heap_freeze`); unset or `on`,
every piece is on. `make bench BENCH_ARGS="--speed-pieces"` measures each piece on and off in the same run (README,
Performance). This module imports nothing of the CDK at load: `startup` must run before the CDK is imported.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import os
import threading
import time
from typing import Any, Iterable, MutableMapping

ENVIRONMENT_VARIABLE = "SOURCE_CHARTMOGUL_SPEED"

PIECES = {
    "startup": "the CDK imported without serpyco-rs reading the protocol classes' source for docstrings (0.6 s a command)",
    "window_filter": "the activities window filter in Python, not Jinja",
    "extractor": "records taken from the envelope key without dpath walking the whole body",
    "json_once": "each page parsed once, with orjson, for the error handler, the extractor and the paginator",
    "cursor_dates": "the activities cursor keeps each window's newest date as text, parsed once per window",
    "heap_freeze": "the start-up heap frozen, out of the cyclic collector's full collections",
    "partition_backlog": "at most 100 partitions wait in the thread pool (the CDK lets 10,000)",
    "malloc_trim": "freed memory handed back to the system once a second",
}
PARTITIONS_WAITING_AT_MOST = 100


def pieces_off(setting: str | None = None) -> frozenset[str]:
    """The pieces the setting (default: the environment variable) turns off."""
    setting = (os.environ.get(ENVIRONMENT_VARIABLE, "") if setting is None else setting).strip()
    if setting in ("", "on"):
        return frozenset()
    if setting == "off":
        return frozenset(PIECES)
    named = [name.strip() for name in setting.split(",") if name.strip()]
    wrong = [name for name in named if not name.startswith("-") or name[1:] not in PIECES]
    if wrong:
        raise ValueError(f"{ENVIRONMENT_VARIABLE}={setting!r}: use on, off, or -piece,... with pieces among"
                         f" {', '.join(PIECES)} ({', '.join(wrong)} is not one)")
    return frozenset(name[1:] for name in named)


def on(piece: str) -> bool:
    return piece not in pieces_off()


# ---------------------------------------------------------------------------------------------- when each applies

def before_cdk_import() -> None:
    if on("startup"):
        from source_chartmogul.cdk_seam import import_cdk_without_protocol_docstrings

        import_cdk_without_protocol_docstrings()


def make_faster(manifest_components: Iterable[MutableMapping[str, Any]]) -> None:
    """Swaps the faster equivalents in, among the components of a manifest, where one holds exactly the rule each
    replaces."""
    from source_chartmogul.speed import components

    def custom(component_type: str, cls: type) -> dict[str, str]:
        return {"type": component_type, "class_name": f"{components.__name__}.{cls.__name__}"}

    for component in manifest_components:
        kind = component.get("type")
        if kind == "RecordFilter" and on("window_filter") and component.get("condition") == components.ActivityWindowFilter.REPLACES:
            component.update(custom("CustomRecordFilter", components.ActivityWindowFilter))
        elif kind == "DpathExtractor" and on("extractor") and len(component.get("field_path", [])) == 1 \
                and "*" not in component["field_path"][0]:
            component.update(custom("CustomRecordExtractor", components.TopLevelKeyExtractor))
        elif kind == "SimpleRetriever" and on("json_once") and "decoder" not in component:
            component["decoder"] = custom("CustomDecoder", components.OncePerResponseJsonDecoder)


def on_source_built(source: Any) -> None:
    from source_chartmogul import cdk_seam
    from source_chartmogul.speed import components

    if on("json_once"):
        cdk_seam.check_json_bodies_with(components.json_body_or_empty)
    if on("partition_backlog"):
        # customer_subscriptions queued a partition per customer far ahead of the workers, and every full collection
        # of the cyclic collector walked them holding the GIL (175 ms at 20,000 customers): a request the budget had
        # just granted waited that long and arrived in a later second, a 429 (docs/reliability.md).
        cdk_seam.bound_partitions_waiting(source, PARTITIONS_WAITING_AT_MOST)


def on_streams_built(streams: Iterable[Any]) -> None:
    from airbyte_cdk.sources.streams.concurrent.cursor import ConcurrentCursor

    from source_chartmogul import cdk_seam
    from source_chartmogul.speed import components

    if on("cursor_dates"):
        for stream in streams:
            if isinstance(stream.cursor, ConcurrentCursor):
                cdk_seam.keep_newest_date_per_window(stream.cursor, components.is_plain_utc_text)


def on_command_start() -> None:
    """Once a process, before the command runs."""
    if on("malloc_trim"):
        _return_freed_memory_to_the_system()


def on_source_ready() -> None:
    """Once the source is built, before the command reads: the CDK and the built source (~110,000 objects that live
    as long as the process) frozen out of the cyclic collector's sight, whose full collections walked them holding the
    GIL (60 ms on a quiet machine) while a granted request waited to leave."""
    if on("heap_freeze"):
        gc.freeze()


# ---------------------------------------------------------------------------------------------- helpers

@functools.lru_cache(maxsize=1)  # one thread a process, however many commands a test runs in it
def _return_freed_memory_to_the_system() -> None:
    """Page bodies are allocated and freed by the worker threads, and glibc keeps what they free in per-thread heaps
    that fragment: peak RSS grew with the records read (300 MB over 1,000,000 activities). Not glibc: nothing to do."""
    try:
        malloc_trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):
        return

    def trim_every_second() -> None:
        while True:
            time.sleep(1)
            malloc_trim(0)

    threading.Thread(target=trim_every_second, name="malloc_trim", daemon=True).start()
