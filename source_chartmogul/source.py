"""The ChartMogul source: the declarative manifest, built with the config, catalog and state of the command."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Mapping, Optional

from airbyte_cdk.models import AirbyteStateMessage, ConfiguredAirbyteCatalog
from airbyte_cdk.sources.connector_state_manager import ConnectorStateManager
from airbyte_cdk.sources.declarative.yaml_declarative_source import YamlDeclarativeSource
from airbyte_cdk.sources.streams.concurrent.abstract_stream import AbstractStream
from airbyte_cdk.sources.streams.concurrent.cursor import ConcurrentCursor
from airbyte_cdk.sources.streams.concurrent.default_stream import DefaultStream
from airbyte_cdk.utils.yaml_loader import safe_load_yaml

from source_chartmogul.components import NewestRecordDateByWindow, check_json_bodies_with_orjson
from source_chartmogul.resumable import RESUMABLE_FAN_OUTS, RESUMABLE_LISTS, resumable

MANIFEST_PATH = Path(__file__).resolve().parent / "manifest.yaml"  # absolute: never a manifest.yaml in the CWD


def written_manifest() -> Any:
    """manifest.yaml as written, without the swaps below: what the Connector Builder imports."""
    return safe_load_yaml(MANIFEST_PATH.read_text())  # the CDK's loader: libyaml, 0.01 s rather than 0.13 s


def _ours(component_type: str, class_name: str) -> dict[str, str]:
    return {"type": component_type, "class_name": f"source_chartmogul.components.{class_name}"}


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
        self._saved_states = ConnectorStateManager(state=state)  # where the resumable streams resume
        # The CDK interpolates the config, catalog and state given here, not those passed to check/discover/read.
        super().__init__(path_to_yaml=str(MANIFEST_PATH), catalog=catalog, config=config, state=state, **kwargs)

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
        return self._with_resumable_lists(streams)

    def _with_resumable_lists(self, streams: List[AbstractStream]) -> List[AbstractStream]:
        """The cursor-paginated lists checkpointing their pages, plan_group_plans its plan groups (resumable.py). Their
        states go through the message repository of the CDK's read (`_message_repository`, set by
        ConcurrentDeclarativeSource.__init__; a unit test pins it), which queues them behind the records already read.
        It would retire if the CDK built resumable full-refresh cursors for concurrent declarative streams again, or
        handed its repository out."""
        return [
            resumable(stream, self._saved_states.get_stream_state(stream.name, None), self._message_repository)
            if (stream.name in RESUMABLE_LISTS or stream.name in RESUMABLE_FAN_OUTS) and isinstance(stream, DefaultStream)
            else stream
            for stream in streams
        ]
