"""Metrics by segment (installed connector only): a segment ChartMogul refuses is named in its stream's error.

The manifest's segment streams fail a refused segment (HTTP 400/422) with ChartMogul's message and the two settings a
segment can come from, not the segment itself: the CDK gives an error message the response only, not the partition it
answers (docs/chartmogul.md, "What the manifest alone lacks"). Here the partition's segment and the one setting that
holds it take their place.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from airbyte_cdk.sources.streams.concurrent.partitions.partition import Partition
from airbyte_cdk.sources.streams.concurrent.partitions.partition_generator import PartitionGenerator
from airbyte_cdk.sources.types import Record
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_chartmogul.resumable import WrappedPartition

PARTITION_FIELD = "segment"  # the partition field of the manifest's segment streams
# The manifest's words for the segment and its fix, where the partition is unknown.
ANY_SEGMENT = "a segment of metrics_segments or metrics_by_plan"
ANY_FIX = "Correct the segment in metrics_segments, or remove it (a plan's: turn metrics_by_plan off)."
FIX = {
    "metrics_segments": "Correct it in metrics_segments, or remove it.",
    # A configured segment takes precedence over a plan's of the same name: the way to send a plan by its uuid.
    "metrics_by_plan": "Turn metrics_by_plan off, or add a segment of that name to metrics_segments with the plan's uuid"
                       " as plans: it takes precedence.",
}


def setting_of(segment: str, config: Mapping[str, Any]) -> str:
    """The setting a segment comes from: metrics_segments if one of its segments has this name, else metrics_by_plan."""
    configured = {entry.get("name") for entry in config.get("metrics_segments") or [] if isinstance(entry, Mapping)}
    return "metrics_segments" if segment in configured else "metrics_by_plan"


class SegmentsNamed(PartitionGenerator):
    """A segment stream's partitions, each failing with its own segment named when ChartMogul refuses it."""

    def __init__(self, partitions: PartitionGenerator, config: Mapping[str, Any]) -> None:
        self._partitions = partitions
        self._config = config

    def generate(self) -> Iterable[Partition]:
        for partition in self._partitions.generate():
            yield SegmentPartition(partition, self._config)


class SegmentPartition(WrappedPartition):
    def __init__(self, partition: Partition, config: Mapping[str, Any]) -> None:
        super().__init__(partition)
        self._config = config

    def read(self) -> Iterable[Record]:
        try:
            yield from self._partition.read()
        except AirbyteTracedException as error:
            if ANY_SEGMENT not in (error.message or ""):
                raise
            segment = str((self.to_slice() or {}).get(PARTITION_FIELD))
            setting = setting_of(segment, self._config)
            named = error.message.replace(ANY_SEGMENT, f"segment {segment!r} of {setting}", 1).replace(ANY_FIX, FIX[setting])
            raise AirbyteTracedException(message=named, internal_message=error.internal_message,
                                         failure_type=error.failure_type) from error
