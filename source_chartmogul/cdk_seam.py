"""The one module of the package that touches private names of airbyte-cdk (and of serpyco-rs, which it uses).

Each function names what it relies on and the upstream change that would retire it; unit_tests/test_cdk_seam.py pins
every one of them to the CDK version (7.39.1), so an upgrade that moves them fails there first, not in a sync.
Nothing else in source_chartmogul names another package's private attribute (the same test file checks). Imports of the CDK are made inside the functions: `import_cdk_without_protocol_docstrings`
must run before anything imports the CDK.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any, Callable, Dict, Mapping, Optional

PINNED_CDK = "7.39.1"


# ---------------------------------------------------------------------------------------------- the source's own parts

def saved_state(source: Any, stream_name: str) -> Mapping[str, Any]:
    """The state the command gave for `stream_name` ({} if none), as the CDK's cursors read it.
    Relies on ConcurrentDeclarativeSource._connector_state_manager, built from the constructor's state. Retired by a
    public accessor of the source's state manager (or a custom concurrent cursor in the manifest: see below)."""
    return source._connector_state_manager.get_stream_state(stream_name, None) or {}


def message_repository(source: Any) -> Any:
    """The repository that queues messages behind the records the workers queued (ConcurrentMessageRepository):
    a checkpoint emitted through it comes out after the records it covers. Relies on
    ConcurrentDeclarativeSource._message_repository. Retired by a public accessor, or by the CDK checkpointing
    concurrent declarative full-refresh streams itself."""
    return source._message_repository


def build_activities_from_parent_state(source: Any, config: Mapping[str, Any], child: str, partition_field: str) -> Any:
    """The manifest's activities stream as the CDK's factory builds it as the parent of a SubstreamPartitionRouter
    with incremental_dependency: its cursor seeded from `child`'s `parent_state.activities`, a message repository
    that drops its STATE messages, and the API budget every other stream shares. Relies on the source's _constructor,
    _source_config and _stream_configs. Retired by a manifest `incremental_sync` that accepts a custom concurrent
    cursor (7.39.1's schema allows only DatetimeBasedCursor and IncrementingCountCursor there)."""
    from airbyte_cdk.sources.declarative.models.declarative_component_schema import SubstreamPartitionRouter

    (activities,) = [s for s in source._stream_configs(source._source_config) if s.get("name") == "activities"]
    router = source._constructor.create_component(SubstreamPartitionRouter, {
        "type": "SubstreamPartitionRouter",
        "parent_stream_configs": [{"type": "ParentStreamConfig", "stream": activities, "parent_key": "customer-uuid",
                                   "partition_field": partition_field, "incremental_dependency": True}],
    }, config, stream_name=child)
    return router.parent_stream_configs[0].stream


def bound_partitions_waiting(source: Any, at_most: int) -> None:
    """At most `at_most` partitions wait as futures in the CDK's thread pool (its default lets 10,000 wait), unless the
    pool has a single worker: that worker generates the partitions, and would wait forever for the ones it queued to be
    read (concurrency_level 1). Relies on ThreadPoolManager._max_concurrent_tasks of ConcurrentSource._threadpool, which
    PartitionEnqueuer asks before it queues a partition, and on the executor's _max_workers. Retired when
    ConcurrentSource.create (or the manifest's concurrency_level) takes the bound."""
    pool = source._concurrent_source._threadpool
    if pool._threadpool._max_workers > 1:
        pool._max_concurrent_tasks = at_most


# ---------------------------------------------------------------------------------------------- a built stream

def partition_router(stream: Any) -> Any:
    """The stream slicer a manifest stream's partitions are generated from (its partition router). Relies on
    DefaultStream._stream_partition_generator (a StreamSlicerPartitionGenerator) and its _stream_slicer."""
    return stream._stream_partition_generator._stream_slicer


def install_cursor(stream: Any, cursor: Any, cursor_field: str) -> None:
    """`cursor` becomes the stream's concurrent cursor, the slicer its partitions are generated from, and the source
    of the cursor field discover reports. Relies on DefaultStream._cursor, ._cursor_field and
    StreamSlicerPartitionGenerator._stream_slicer. Retired by a manifest `incremental_sync` that accepts a custom
    concurrent cursor."""
    from airbyte_cdk.sources.streams.concurrent.cursor import CursorField

    stream._cursor = cursor
    stream._stream_partition_generator._stream_slicer = cursor
    stream._cursor_field = CursorField(cursor_field)


def wrap_partitions(stream: Any, wrap: Callable[[Any], Any]) -> None:
    """The stream's partitions come from `wrap(its partition generator)`. Relies on DefaultStream._stream_partition_generator.
    Retired by a DefaultStream hook around partition reads (or a manifest option that stops a stream's partitions
    after repeated failures)."""
    stream._stream_partition_generator = wrap(stream._stream_partition_generator)


# ---------------------------------------------------------------------------------------------- the speed layer's

def keep_newest_date_per_window(cursor: Any, is_plain_utc_text: Callable[[Any], bool]) -> None:
    """The activities ConcurrentCursor keeps each window's newest record date as text while the window is read, and
    parses it once when the window closes, instead of a strptime (behind a module-wide lock the workers queue on) and
    two slice hashes a record. A date that is not plain UTC text goes the CDK's own way. Relies on
    ConcurrentCursor._connector_state_converter, _most_recent_cursor_value_per_partition and
    _log_for_record_without_cursor_value, and replaces observe and close_partition on the instance. Retired by a CDK
    cursor that parses without strptime's lock (or parses once per partition)."""
    from airbyte_cdk.sources.streams.concurrent.cursor import ConcurrentCursor

    close_partition = cursor.close_partition
    newest: Dict[int, tuple[Any, str]] = {}  # id(window slice) -> (that slice, to hold the id; newest date text)
    key = cursor.cursor_field.cursor_field_key

    def observe(record: Any) -> None:
        date = record.data.get(key)
        if not is_plain_utc_text(date):
            ConcurrentCursor.observe(cursor, record)
            return
        window = record.associated_slice
        seen = newest.get(id(window))
        if seen is None or seen[1] < date:
            newest[id(window)] = (window, date)

    def close(partition: Any) -> None:
        window = partition.to_slice()
        seen = newest.pop(id(window), None)
        if seen is not None:
            try:
                value = cursor._connector_state_converter.parse_value(seen[1])
            except ValueError:  # text that is no date: the CDK would have skipped it with this warning
                cursor._log_for_record_without_cursor_value()
            else:
                observed = cursor._most_recent_cursor_value_per_partition
                if observed.get(window) is None or observed[window] < value:
                    observed[window] = value
        close_partition(partition)

    cursor.observe = observe
    cursor.close_partition = close


def check_json_bodies_with(parse: Callable[[Any], Any]) -> None:
    """The error handlers' response filters read each body with `parse` (for this process): the CDK's
    HttpResponseFilter._safe_response_json parses with the standard library, once more per page, and the factory gives
    no way to choose the filter's class. Retired by a response filter that reads the decoder's parsed body."""
    from airbyte_cdk.sources.declarative.requesters.error_handlers.http_response_filter import HttpResponseFilter

    HttpResponseFilter._safe_response_json = staticmethod(parse)


def json_body_of_response_filters() -> Callable[[Any], Any]:
    """What the response filters parse bodies with now (for tests)."""
    from airbyte_cdk.sources.declarative.requesters.error_handlers.http_response_filter import HttpResponseFilter

    return HttpResponseFilter._safe_response_json


def exit_at_once(status: int) -> None:
    """End the process now, with `status`, running no cleanup (os._exit, the standard library's documented way): the
    CDK's worker threads may be blocked in a request, and the interpreter's exit would wait for them."""
    os._exit(status)


SERPYCO_DOCSTRING_READERS = ("serpyco_rs._describe", "serpyco_rs._json_schema._convert")


def import_cdk_without_protocol_docstrings() -> None:
    """Import airbyte_cdk.models without serpyco-rs reading the source of its 36 protocol classes for attribute
    docstrings they do not have (0.6 s of every command). Relies on get_attributes_doc in serpyco-rs 1.x's private
    modules above; any other layout, or a CDK already imported, leaves the import as it is. Retired by serpyco-rs
    reading docstrings lazily, or the protocol models shipping prebuilt serializers."""
    if "airbyte_cdk.models" in sys.modules:
        return
    try:
        readers = [importlib.import_module(name) for name in SERPYCO_DOCSTRING_READERS]
    except ImportError:
        readers = []
    readers = [module for module in readers if callable(getattr(module, "get_attributes_doc", None))]
    originals = [module.get_attributes_doc for module in readers]
    for module in readers:
        module.get_attributes_doc = _no_attribute_docstrings
    try:
        importlib.import_module("airbyte_cdk.models")
    finally:  # serpyco-rs as it was for everything built later
        for module, original in zip(readers, originals):
            module.get_attributes_doc = original


def _no_attribute_docstrings(_cls: Any) -> Dict[str, str]:
    return {}


def docstring_reader_modules() -> list[Optional[str]]:
    """The modules serpyco-rs's docstring readers come from now (for tests)."""
    modules = [sys.modules.get(name) for name in SERPYCO_DOCSTRING_READERS]
    return [getattr(getattr(m, "get_attributes_doc", None), "__module__", None) for m in modules]
