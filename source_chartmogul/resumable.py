"""Resumable full refresh of the cursor-paginated lists (installed connector only).

The CDK 7.39.1 gives a full-refresh stream of a concurrent declarative source a FinalStateCursor: no state until the
end, then `{"__ab_no_cursor_state_message": true}`, after a failure too, so an attempt killed at page 40 of invoices
starts again at page 1 (concurrent_declarative_source.py: "we are not enabling RFR with synthetic cursors").
Here each list checkpoints the ChartMogul cursor of the page it is reading, and a read given that state starts at
that page: at most that page is read twice. A finished list ends on the CDK's sentinel, which reads it whole again.

State of a list while unfinished: `{"cursor": "<the opaque cursor sent for the page whose records were last
emitted>"}`; finished: `{"__ab_no_cursor_state_message": true}`; nothing yet to resume from (failed on its first
page): the sentinel too, since a read from it reads the list whole, as it must.

ChartMogul's cursors name the last record served (base64 of its timestamp and id; the API reference documents no
lifetime). If ChartMogul refuses a saved cursor (an HTTP 4xx to the resumed first request, e.g. the record it names
was deleted), the list is read again from its start, with a warning: nothing is lost, and the attempt succeeds,
whereas an error would fail every later attempt of the job on the same state.
"""

from __future__ import annotations

import logging
from typing import Any, Iterable, Mapping, MutableMapping, Optional

from airbyte_cdk.models import AirbyteStream, FailureType
from airbyte_cdk.sources.connector_state_manager import ConnectorStateManager
from airbyte_cdk.sources.message import MessageRepository
from airbyte_cdk.sources.streams import NO_CURSOR_STATE_KEY
from airbyte_cdk.sources.streams.concurrent.cursor import Cursor
from airbyte_cdk.sources.streams.concurrent.default_stream import DefaultStream
from airbyte_cdk.sources.streams.concurrent.partitions.partition import Partition
from airbyte_cdk.sources.streams.concurrent.partitions.partition_generator import PartitionGenerator
from airbyte_cdk.sources.types import Record
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

# The lists read as one chain of pages (no partitions), each resumable at any page. data_sources and account are one
# response; activities is incremental; plan_group_plans and customer_subscriptions are fan-outs.
RESUMABLE_LISTS = ("customers", "plans", "plan_groups", "invoices", "subscription_events", "contacts",
                   "customer_notes", "opportunities", "tasks")

# On the partition's slice (extra_fields, which lives from page to page): the cursor sent for the page being read.
# components.ChartMogulPagination sets it for each next page (as the manifest's stop_condition does); it starts as the
# saved cursor of a resumed read, which the manifest's `definitions.resumed_cursor` sends with the first request.
CURSOR_SENT = "chartmogul_cursor_sent"

FINISHED = {NO_CURSOR_STATE_KEY: True}


def saved_cursor(stream_state: Mapping[str, Any]) -> Optional[str]:
    """The cursor a read resumes at; None (read whole) for no state or the sentinel. run.py refuses other cursors."""
    cursor = stream_state.get("cursor")
    return cursor if isinstance(cursor, str) and cursor else None


def state_problem(stream: str, stream_state: Mapping[str, Any]) -> Optional[str]:
    """One line if the saved state of a resumable list cannot be resumed from; None otherwise."""
    if stream not in RESUMABLE_LISTS or not isinstance(stream_state, Mapping) or "cursor" not in stream_state \
            or saved_cursor(stream_state):
        return None
    return (f"The saved state of {stream} has cursor {stream_state['cursor']!r}, not a ChartMogul cursor (a non-empty"
            f" string): reset the {stream} stream to read it whole.")


class PageCheckpoint(Cursor):
    """A list's state: the cursor of the page in flight, emitted right before the page's first record.

    The partition (CheckpointedPartition) reports each page as its first record comes, in the worker, before the
    worker queues that record; the state goes on the same queue (ConcurrentMessageRepository). So every record of the
    earlier pages is on stdout before the state that skips them, and every record after it belongs to its page or a
    later one: a read resumed from the last state seen re-reads at most the records of one page."""

    def __init__(self, stream_name: str, resume_at: Optional[str], message_repository: MessageRepository) -> None:
        self._stream_name = stream_name
        self._checkpoint = resume_at  # a failure before the first page keeps the state it was given
        self._emitted: Optional[str] = None
        self._memory: Mapping[str, Any] = {}  # the extra_fields of the slice the records are read with
        self._finished = False
        self._message_repository = message_repository
        self._state_manager = ConnectorStateManager()  # as FinalStateCursor: only to write this stream's messages

    @property
    def state(self) -> MutableMapping[str, Any]:
        return dict(FINISHED) if self._finished or not self._checkpoint else {"cursor": self._checkpoint}

    def record_comes(self, record: Record) -> None:
        """Before `record` is queued; the slice it was read with names its page (CheckpointedPartition)."""
        self._memory = record.associated_slice.extra_fields if record.associated_slice is not None else {}
        sent = self._memory.get(CURSOR_SENT)
        if sent and sent != self._emitted:
            self._checkpoint = self._emitted = sent
            self._emit_state()

    def restart(self) -> None:
        self._checkpoint = None

    def observe(self, record: Record) -> None:
        pass  # after the record is queued: too late for its page's state (record_comes)

    def close_partition(self, partition: Partition) -> None:
        self._finished = True  # called only once the list said it ended; the sentinel follows

    def ensure_at_least_one_state_emitted(self) -> None:
        """At the end, after a failure too. A failed list resumes at the page that failed: the paginator names it only
        once the page before is all out, and this state comes after every record the workers queued."""
        if not self._finished and self._memory.get(CURSOR_SENT):
            self._checkpoint = self._memory[CURSOR_SENT]
        self._emit_state()

    def should_be_synced(self, record: Record) -> bool:
        return True

    def _emit_state(self) -> None:
        self._state_manager.update_state_for_stream(self._stream_name, None, self.state)
        self._message_repository.emit_message(self._state_manager.create_state_message(self._stream_name, None))


class CheckpointedPartition(Partition):
    """The list's partition, showing the checkpoint each record before it is queued, and starting at the saved cursor.

    The CURSOR_SENT of a record's slice names the record's page as it comes: the paginator sets it only once the page
    before is all out (SimpleRetriever._read_pages yields a page's records before it asks for the next cursor). The
    saved cursor is put on the partition's slice, which SimpleRetriever.read_records then reads with (it replaces a
    slice only when it is empty, extra_fields included: a fresh read gets a slice of its own). A saved
    cursor ChartMogul refuses before any record is read (the CDK fails an unexpected HTTP 4xx as a system_error;
    401/403, 429 and 5xx, and the paginator's stops, are other failure types, which a read from the start would meet
    too) reads the list again from its start."""

    def __init__(self, partition: Partition, resume_at: Optional[str], checkpoint: PageCheckpoint) -> None:
        self._partition = partition
        self._resume_at = resume_at
        self._checkpoint = checkpoint

    def read(self) -> Iterable[Record]:
        if not self._resume_at:
            yield from self._checkpointed()
            return
        memory = self._partition.to_slice().extra_fields  # type: ignore[union-attr]
        memory[CURSOR_SENT] = self._resume_at
        started = False
        try:
            for record in self._checkpointed():
                started = True
                yield record
        except AirbyteTracedException as error:
            if started or error.failure_type != FailureType.system_error:
                raise
            logging.getLogger(f"airbyte.{self.stream_name()}").warning(
                f"ChartMogul refused the saved cursor of {self.stream_name()} ({error.message}): reading the list"
                " again from its start.")
            memory.clear()  # no cursor sent, no empty repeats counted: a fresh read
            self._checkpoint.restart()
            yield from self._checkpointed()

    def _checkpointed(self) -> Iterable[Record]:
        for record in self._partition.read():
            self._checkpoint.record_comes(record)
            yield record

    def to_slice(self) -> Optional[Mapping[str, Any]]:
        return self._partition.to_slice()

    def stream_name(self) -> str:
        return self._partition.stream_name()

    def __hash__(self) -> int:
        return hash(self._partition)


class Checkpointed(PartitionGenerator):
    """The stream's own partition (one: the whole list), checkpointed."""

    def __init__(self, stream: DefaultStream, resume_at: Optional[str], checkpoint: PageCheckpoint) -> None:
        self._stream = stream
        self._resume_at = resume_at
        self._checkpoint = checkpoint

    def generate(self) -> Iterable[Partition]:
        for partition in self._stream.generate_partitions():
            yield CheckpointedPartition(partition, self._resume_at, self._checkpoint)


class ResumableListStream(DefaultStream):
    """A list stream that checkpoints: the CDK's DefaultStream reports is_resumable only for a stream with a cursor
    field, which a full-refresh list has not."""

    def as_airbyte_stream(self) -> AirbyteStream:
        stream = super().as_airbyte_stream()
        stream.is_resumable = True
        return stream


def resumable(stream: DefaultStream, stream_state: Mapping[str, Any], message_repository: MessageRepository) -> DefaultStream:
    """`stream` (as the CDK built it) checkpointing its pages, and resumed at the cursor of `stream_state` if any."""
    resume_at = saved_cursor(stream_state)
    checkpoint = PageCheckpoint(stream.name, resume_at, message_repository)
    keys = stream.as_airbyte_stream().source_defined_primary_key or []
    return ResumableListStream(
        partition_generator=Checkpointed(stream, resume_at, checkpoint),
        name=stream.name,
        json_schema=stream.get_json_schema,
        primary_key=[key[0] for key in keys],
        cursor_field=None,
        logger=logging.getLogger(f"airbyte.{stream.name}"),
        cursor=checkpoint,
        namespace=stream.namespace,
        block_simultaneous_read=stream.block_simultaneous_read,
    )
