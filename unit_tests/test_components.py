"""The installed connector's Python equivalents keep exactly what the manifest's Jinja rules keep."""

from __future__ import annotations

import yaml
from airbyte_cdk.sources.declarative.extractors.record_filter import RecordFilter
from airbyte_cdk.sources.types import StreamSlice

from source_chartmogul import SourceChartmogul
from source_chartmogul.components import ActivityWindowFilter
from source_chartmogul.source import MANIFEST_PATH

WINDOW = StreamSlice(partition={}, cursor_slice={"start_time": "2024-01-15T06:30:00Z", "end_time": "2024-02-15T06:29:59Z"})
DATES = [
    "2024-01-15T06:29:59+00:00", "2024-01-15T06:30:00+00:00", "2024-01-20T00:00:00+00:00",
    "2024-02-15T06:29:59+00:00", "2024-02-15T06:30:00+00:00", "2023-12-31T23:59:59+00:00", "2025-01-15T06:30:00+00:00",
]


def activities_record_filter(manifest: dict) -> dict:
    return manifest["definitions"]["streams"]["activities"]["retriever"]["record_selector"]["record_filter"]


def manifest_condition() -> str:
    return activities_record_filter(yaml.safe_load(MANIFEST_PATH.read_text()))["condition"]


def test_the_python_window_filter_keeps_what_the_manifests_jinja_filter_keeps() -> None:
    records = [{"uuid": str(n), "date": date} for n, date in enumerate(DATES)]
    jinja = RecordFilter(config={}, parameters={}, condition=manifest_condition())
    python = ActivityWindowFilter(config={}, parameters={}, condition=manifest_condition())

    kept = list(python.filter_records(records, stream_state={}, stream_slice=WINDOW))
    assert kept == list(jinja.filter_records(records, stream_state={}, stream_slice=WINDOW))
    assert [r["date"] for r in kept] == ["2024-01-15T06:30:00+00:00", "2024-01-20T00:00:00+00:00", "2024-02-15T06:29:59+00:00"]


def test_the_installed_connector_runs_the_python_filter_and_the_manifest_file_keeps_jinja() -> None:
    resolved = SourceChartmogul(config={"api_key": "k" * 20, "start_date": "2019-01-01T00:00:00Z"}).resolved_manifest
    record_filter = activities_record_filter(resolved)
    assert (record_filter["type"], record_filter["class_name"]) == ("CustomRecordFilter", "source_chartmogul.components.ActivityWindowFilter")
    assert activities_record_filter(yaml.safe_load(MANIFEST_PATH.read_text()))["type"] == "RecordFilter"
