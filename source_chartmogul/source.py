"""The ChartMogul source: the declarative manifest, built with the config, catalog and state of the command."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Mapping, Optional

from airbyte_cdk.models import AirbyteStateMessage, ConfiguredAirbyteCatalog, SyncMode
from airbyte_cdk.sources.declarative.models.declarative_component_schema import SubstreamPartitionRouter
from airbyte_cdk.sources.declarative.yaml_declarative_source import YamlDeclarativeSource
from airbyte_cdk.sources.streams.concurrent.abstract_stream import AbstractStream
from airbyte_cdk.sources.streams.concurrent.cursor import ConcurrentCursor, CursorField
from airbyte_cdk.sources.streams.concurrent.default_stream import DefaultStream
from airbyte_cdk.utils.yaml_loader import safe_load_yaml

from source_chartmogul.components import NewestRecordDateByWindow, check_json_bodies_with_orjson
from source_chartmogul.resumable import RESUMABLE_FAN_OUTS, RESUMABLE_LISTS, resumable
from source_chartmogul.subscriptions_cursor import (
    DEFAULT_REREAD_DAYS, PARTITION_FIELD, STREAM as SUBSCRIPTIONS, ActivityCustomers, CustomerSubscriptionsCursor,
)

MANIFEST_PATH = Path(__file__).resolve().parent / "manifest.yaml"  # absolute: never a manifest.yaml in the CWD


def written_manifest() -> Any:
    """manifest.yaml as written, without the swaps below: what the Connector Builder imports."""
    return safe_load_yaml(MANIFEST_PATH.read_text())  # the CDK's loader: libyaml, 0.01 s rather than 0.13 s


def _ours(component_type: str, class_name: str) -> dict[str, str]:
    return {"type": component_type, "class_name": f"source_chartmogul.components.{class_name}"}


# The CDK's thread pool lets 10,000 partitions wait as futures (ThreadPoolManager.DEFAULT_MAX_QUEUE_SIZE, which
# ConcurrentSource.create does not take): customer_subscriptions queued a partition per customer far ahead of the
# workers (each a future, its work item, locks, slice and parent record), and every full collection of the cyclic
# collector walked them holding the GIL: 175 ms in the median at 20,000 customers, 8 ms with this bound and run.py's
# frozen heap. A request the budget had just granted waited that long before it left, and arrived in a later second
# with the requests granted after it: 429s (docs/reliability.md). A hundred waiting partitions keep the workers busy.
# Pinned by unit_tests/test_pacing.py; retired when ConcurrentSource.create accepts max_concurrent_tasks.
PARTITIONS_WAITING_AT_MOST = 100


def _bound_partitions_waiting(concurrent_source: Any) -> None:
    # Its warning of "futures getting bigger than expected" stays at the CDK's 20,000: the partitions queued before the
    # main thread submits them overshoot a bound of 100 (211 were seen), which is no sign of trouble.
    concurrent_source._threadpool._max_concurrent_tasks = PARTITIONS_WAITING_AT_MOST


class SourceChartmogul(YamlDeclarativeSource):
    """The manifest as the Builder runs it, with the per-record work of components.py swapped in (same results)."""

    def __init__(
        self,
        catalog: Optional[ConfiguredAirbyteCatalog] = None,
        config: Optional[Mapping[str, Any]] = None,
        state: Optional[List[AirbyteStateMessage]] = None,
        **kwargs: Any,
    ) -> None:
        check_json_bodies_with_orjson()
        self._configured_catalog = catalog  # the sync mode asked of customer_subscriptions
        # The CDK interpolates the config, catalog and state given here, not those passed to check/discover/read.
        super().__init__(path_to_yaml=str(MANIFEST_PATH), catalog=catalog, config=config, state=state, **kwargs)
        _bound_partitions_waiting(self._concurrent_source)

    def _read_and_parse_yaml_file(self, path_to_yaml_file: str) -> Any:
        manifest = super()._read_and_parse_yaml_file(path_to_yaml_file)
        selector = manifest["definitions"]["streams"]["activities"]["retriever"]["record_selector"]
        selector["record_filter"] = {
            **_ours("CustomRecordFilter", "ActivityWindowFilter"),
            "condition": selector["record_filter"]["condition"],  # the rule it implements, kept for the record
        }
        for extractor in (manifest["definitions"]["record_selector"]["extractor"],
                          manifest["definitions"]["metric_stream"]["retriever"]["record_selector"]["extractor"]):
            extractor.update(_ours("CustomRecordExtractor", "TopLevelKeyExtractor"))
        paging = manifest["definitions"]["cursor_paginator"]  # the same rules, failing without the duration() wrapper
        paging["pagination_strategy"] = {**_ours("CustomPaginationStrategy", "ChartMogulPagination"),
                                         "page_size": paging["pagination_strategy"]["page_size"]}
        for shape in ("list_stream", "metric_stream", "one_response_stream"):  # every stream's retriever is one of these
            manifest["definitions"][shape]["retriever"]["decoder"] = _ours("CustomDecoder", "OncePerResponseJsonDecoder")
        return manifest

    def streams(self, config: Mapping[str, Any]) -> List[AbstractStream]:  # type: ignore[override]
        streams = super().streams(config)
        for stream in streams:
            if stream.name == "activities" and isinstance(stream.cursor, ConcurrentCursor):
                NewestRecordDateByWindow.install(stream.cursor)
            if stream.name == SUBSCRIPTIONS:
                self._install_subscriptions_cursor(stream, config)
        return self._with_resumable_lists(streams)

    def _sync_mode_of(self, name: str) -> Optional[SyncMode]:
        for configured in (self._configured_catalog.streams if self._configured_catalog else []):
            if configured.stream.name == name:
                return configured.sync_mode
        return None

    def _install_subscriptions_cursor(self, stream: AbstractStream, config: Mapping[str, Any]) -> None:
        """customer_subscriptions becomes incremental and resumable (subscriptions_cursor.py says why in Python).

        The CDK 7.39.1 gives a stream built from a manifest no hook to supply its own concurrent cursor, so this sets
        three private attributes of the DefaultStream the factory built: the cursor, the slicer its partition generator
        walks (ours, walking the manifest's own customers router), and the cursor field discover reports.
        unit_tests/test_subscriptions_cursor.py pins them to the CDK version. What would retire this upstream: a
        manifest `incremental_sync` that accepts a custom concurrent cursor (7.39.1's schema allows only
        DatetimeBasedCursor and IncrementingCountCursor there)."""
        generator = stream._stream_partition_generator  # type: ignore[attr-defined]
        customers = generator._stream_slicer
        state = self._connector_state_manager.get_stream_state(SUBSCRIPTIONS, None)
        activities = None
        if self._sync_mode_of(SUBSCRIPTIONS) != SyncMode.full_refresh:
            activities = ActivityCustomers(self._activities_seeded_from_state(config))
        cursor = CustomerSubscriptionsCursor(
            customers=customers, activities=activities, state=state,
            reread_days=int(config.get("subscriptions_reread_days") or DEFAULT_REREAD_DAYS),
            start_date=config.get("start_date", ""), lookback_days=int(config.get("lookback_window_days", 30)),
            message_repository=self._message_repository,
        )
        stream._cursor = cursor  # type: ignore[attr-defined]
        generator._stream_slicer = cursor
        stream._cursor_field = CursorField(PARTITION_FIELD)  # type: ignore[attr-defined]

    def _activities_seeded_from_state(self, config: Mapping[str, Any]) -> AbstractStream:
        """The manifest's activities stream, built by the CDK's factory as the parent of a SubstreamPartitionRouter
        with incremental_dependency: the factory seeds its cursor from this stream's `parent_state.activities`, gives
        it a message repository that drops its STATE messages, and shares the API budget with every other stream."""
        (activities,) = [s for s in self._stream_configs(self._source_config) if s.get("name") == "activities"]
        router = self._constructor.create_component(SubstreamPartitionRouter, {
            "type": "SubstreamPartitionRouter",
            "parent_stream_configs": [{"type": "ParentStreamConfig", "stream": activities, "parent_key": "customer-uuid",
                                       "partition_field": PARTITION_FIELD, "incremental_dependency": True}],
        }, config, stream_name=SUBSCRIPTIONS)
        return router.parent_stream_configs[0].stream

    def _with_resumable_lists(self, streams: List[AbstractStream]) -> List[AbstractStream]:
        """The cursor-paginated lists checkpointing their pages, plan_group_plans its plan groups (resumable.py). Their
        saved states come from the CDK's `_connector_state_manager`, and their states go through the message repository
        of the CDK's read (`_message_repository`), which queues them behind the records already read: both set by
        ConcurrentDeclarativeSource.__init__ and pinned by unit tests.
        It would retire if the CDK built resumable full-refresh cursors for concurrent declarative streams again, or
        handed its repository out."""
        return [
            resumable(stream, self._connector_state_manager.get_stream_state(stream.name, None), self._message_repository)
            if (stream.name in RESUMABLE_LISTS or stream.name in RESUMABLE_FAN_OUTS) and isinstance(stream, DefaultStream)
            else stream
            for stream in streams
        ]
