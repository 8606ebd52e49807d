"""Resumable full refresh of the cursor-paginated lists and of plan_group_plans (installed connector only).

The CDK 7.39.1 gives a full-refresh stream of a concurrent declarative source a FinalStateCursor: no state until the
end, then `{"__ab_no_cursor_state_message": true}`, after a failure too, so an attempt killed at page 40 of invoices
starts again at page 1 (concurrent_declarative_source.py: "we are not enabling RFR with synthetic cursors").
Here each list checkpoints the ChartMogul cursor of the page it is reading, and a read given that state starts at
that page: at most that page is read twice. A finished list ends on the CDK's sentinel, which reads it whole again.

State of a list while unfinished: `{"cursor": "<the opaque cursor sent for the page in flight>"}`, emitted right
before that page's first record; finished: `{"__ab_no_cursor_state_message": true}`; failed: the cursor of the page
that failed, or, before any record, the state it was given (the sentinel if none: a read from it reads the list whole).

ChartMogul's cursors name the last record served (base64 of its timestamp and id; the API reference documents no
lifetime). If ChartMogul refuses a saved cursor (an HTTP 4xx to the resumed first request, e.g. the record it names
was deleted), the list is read again from its start, with a warning: nothing is lost, and the attempt succeeds,
whereas an error would fail every later attempt of the job on the same state.

plan_group_plans, one short list per plan group, checkpoints the completed prefix of its plan groups, in the order the
plan_groups list gives them: `{"plan_group_uuid": "<the last plan group of the prefix whose plans are all read>"}`.
A read given it reads the plan groups again and skips that prefix; if that plan group is no longer listed, none is
skipped.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
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

from source_chartmogul.pagination import CURSOR_SENT

# How a stream resumes, declared in the manifest next to the stream (`$parameters.resumable`).
BY_PAGE = "page"  # a list read as one chain of pages: its state is the cursor of the page in flight
BY_PARENT_PREFIX = "parent_prefix"  # a fan-out: its state is the last parent of the completed prefix

FINISHED = {NO_CURSOR_STATE_KEY: True}


def _saved(stream_state: Mapping[str, Any], key: str) -> Optional[str]:
    """Where a read resumes; None (read whole) for no state or the sentinel. state_problem refuses other values."""
    value = stream_state.get(key)
    return value if isinstance(value, str) and value else None


def state_key(resumable: str, partition_field: Optional[str]) -> str:
    return "cursor" if resumable == BY_PAGE else str(partition_field)


def state_problem(resumable: str, partition_field: Optional[str], stream_state: Any) -> Optional[str]:
    """Why the saved state of a resumable list or fan-out cannot be resumed from, worded to follow "The saved state of
    <stream>"; None if it can."""
    key, what = ("cursor", "a ChartMogul cursor") if resumable == BY_PAGE else (str(partition_field), "a uuid")
    if not isinstance(stream_state, Mapping) or key not in stream_state or _saved(stream_state, key):
        return None
    return f"has {key} {stream_state[key]!r}, not {what} (a non-empty string)"


class CheckpointCursor(Cursor):
    """What the checkpoints share (these two, and customer_subscriptions'): progress by page or partition, not by
    record, and a state written as FinalStateCursor writes its sentinel."""

    def __init__(self, stream_name: str, message_repository: MessageRepository) -> None:
        self._stream_name = stream_name
        self._message_repository = message_repository
        self._state_manager = ConnectorStateManager()  # as FinalStateCursor: only to write this stream's messages

    def observe(self, record: Record) -> None:
        pass

    def should_be_synced(self, record: Record) -> bool:
        return True

    def _emit_state(self, state: Optional[Mapping[str, Any]] = None) -> None:
        """Emit `state`, or the cursor's own."""
        self._state_manager.update_state_for_stream(self._stream_name, None, self.state if state is None else state)
        self._message_repository.emit_message(self._state_manager.create_state_message(self._stream_name, None))


class PageCheckpoint(CheckpointCursor):
    """A list's state: the cursor of the page in flight, emitted right before the page's first record.

    The partition (CheckpointedPartition) reports each page as its first record comes, in the worker, before the
    worker queues that record; the state goes on the same queue (ConcurrentMessageRepository). So every record of the
    earlier pages is on stdout before the state that skips them, and every record after it belongs to its page or a
    later one: a read resumed from the last state seen re-reads at most the records of one page."""

    def __init__(self, stream_name: str, resume_at: Optional[str], message_repository: MessageRepository) -> None:
        super().__init__(stream_name, message_repository)
        self._checkpoint = resume_at  # a failure before the first page keeps the state it was given
        self._emitted: Optional[str] = None
        self._memory: Mapping[str, Any] = {}  # the extra_fields of the slice the records are read with
        self._finished = False

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

    def close_partition(self, partition: Partition) -> None:
        self._finished = True  # called only once the list said it ended; the sentinel follows

    def ensure_at_least_one_state_emitted(self) -> None:
        """At the end, after a failure too. A failed list resumes at the page that failed: the paginator names it only
        once the page before is all out, and this state comes after every record the workers queued."""
        if not self._finished and self._memory.get(CURSOR_SENT):
            self._checkpoint = self._memory[CURSOR_SENT]
        self._emit_state()


class WrappedPartition(Partition):
    """A partition read another way: its slice, stream and identity are the wrapped partition's."""

    def __init__(self, partition: Partition) -> None:
        self._partition = partition

    def to_slice(self) -> Optional[Mapping[str, Any]]:
        return self._partition.to_slice()

    def stream_name(self) -> str:
        return self._partition.stream_name()

    def __hash__(self) -> int:
        return hash(self._partition)


class CheckpointedPartition(WrappedPartition):
    """The list's partition, showing the checkpoint each record before it is queued, and starting at the saved cursor.

    The CURSOR_SENT of a record's slice names the record's page as it comes: the paginator sets it only once the page
    before is all out (SimpleRetriever._read_pages yields a page's records before it asks for the next cursor). The
    saved cursor is put on the partition's slice, which SimpleRetriever.read_records then reads with (it replaces a
    slice only when it is empty, extra_fields included: a fresh read gets a slice of its own). A saved
    cursor ChartMogul refuses before any record is read (the CDK fails an unexpected HTTP 4xx as a system_error;
    401/403, 429 and 5xx, and the paginator's stops, are other failure types, which a read from the start would meet
    too) reads the list again from its start."""

    def __init__(self, partition: Partition, resume_at: Optional[str], checkpoint: PageCheckpoint) -> None:
        super().__init__(partition)
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


class Checkpointed(PartitionGenerator):
    """The stream's own partition (one: the whole list), checkpointed."""

    def __init__(self, stream: DefaultStream, resume_at: Optional[str], checkpoint: PageCheckpoint) -> None:
        self._stream = stream
        self._resume_at = resume_at
        self._checkpoint = checkpoint

    def generate(self) -> Iterable[Partition]:
        for partition in self._stream.generate_partitions():
            yield CheckpointedPartition(partition, self._resume_at, self._checkpoint)


class CompletedPrefix(CheckpointCursor):
    """A fan-out's state: the last parent of the longest prefix (in the parent list's order) whose partitions are all
    read. Partitions close in any order, each in its worker after its records are queued, so when the prefix grows,
    every record of the prefix is queued before the state that skips it."""

    def __init__(self, stream_name: str, field: str, done_through: Optional[str], message_repository: MessageRepository) -> None:
        super().__init__(stream_name, message_repository)
        self._field = field
        self._done_through = done_through  # a failure before any partition closes keeps the state it was given
        self._order: list[str] = []  # the parents of the partitions generated, in order
        self._closed: set[str] = set()
        self._prefix = 0  # how many of _order are read, from the first
        self._generated_all = False
        self._lock = threading.Lock()  # partitions close in several workers

    @property
    def state(self) -> MutableMapping[str, Any]:
        return dict(FINISHED) if self._finished() or not self._done_through else {self._field: self._done_through}

    def _finished(self) -> bool:
        return self._generated_all and self._prefix == len(self._order)

    def generated(self, parent: str) -> None:
        with self._lock:
            self._order.append(parent)

    def generated_all(self) -> None:
        self._generated_all = True

    def close_partition(self, partition: Partition) -> None:
        with self._lock:  # held while emitting: the states go out in the order the prefix grows
            self._closed.add(partition.to_slice()[self._field])  # type: ignore[index]
            grown = False
            while self._prefix < len(self._order) and self._order[self._prefix] in self._closed:
                self._done_through, self._prefix, grown = self._order[self._prefix], self._prefix + 1, True
            if grown and not self._finished():  # the end is the sentinel, which the CDK asks for once
                self._emit_state()

    def ensure_at_least_one_state_emitted(self) -> None:
        self._emit_state()  # at the end (the sentinel), or after a failure (the prefix read)


class AfterCompletedPrefix(PartitionGenerator):
    """The fan-out's partitions, without those of the completed prefix of a saved state. They are held until the
    prefix's last parent shows: if it never does (deleted since), they are all read."""

    def __init__(self, stream: DefaultStream, done_through: Optional[str], checkpoint: CompletedPrefix, field: str) -> None:
        self._stream = stream
        self._done_through = done_through
        self._checkpoint = checkpoint
        self._field = field

    def generate(self) -> Iterable[Partition]:
        held: Optional[list[Partition]] = [] if self._done_through else None
        for partition in self._stream.generate_partitions():
            if held is not None:
                held.append(partition)
                if partition.to_slice()[self._field] == self._done_through:  # type: ignore[index]
                    held = None  # the prefix: read by an earlier attempt
                continue
            yield from self._generated(partition)
        for partition in held or []:
            yield from self._generated(partition)
        self._checkpoint.generated_all()

    def _generated(self, partition: Partition) -> Iterable[Partition]:
        self._checkpoint.generated(partition.to_slice()[self._field])  # type: ignore[index]
        yield partition


class ResumableStream(DefaultStream):
    """A stream that checkpoints: the CDK's DefaultStream reports is_resumable only for a stream with a cursor
    field, which a full-refresh stream has not."""

    def as_airbyte_stream(self) -> AirbyteStream:
        return dataclasses.replace(super().as_airbyte_stream(), is_resumable=True)


def resumable(stream: DefaultStream, how: str, partition_field: Optional[str], stream_state: Mapping[str, Any],
              message_repository: MessageRepository) -> DefaultStream:
    """`stream` (as the CDK built it) checkpointing as it reads, by page or by parent prefix (`how`), and resumed
    where `stream_state` says, if it says."""
    checkpoint: CheckpointCursor
    if how == BY_PARENT_PREFIX:
        field = str(partition_field)
        done_through = _saved(stream_state, field)
        checkpoint = CompletedPrefix(stream.name, field, done_through, message_repository)
        partitions: PartitionGenerator = AfterCompletedPrefix(stream, done_through, checkpoint, field)
    else:
        resume_at = _saved(stream_state, "cursor")
        checkpoint = PageCheckpoint(stream.name, resume_at, message_repository)
        partitions = Checkpointed(stream, resume_at, checkpoint)
    keys = stream.as_airbyte_stream().source_defined_primary_key or []
    return ResumableStream(
        partition_generator=partitions,
        name=stream.name,
        json_schema=stream.get_json_schema,
        primary_key=[key[0] for key in keys],
        cursor_field=None,
        logger=logging.getLogger(f"airbyte.{stream.name}"),
        cursor=checkpoint,
        namespace=stream.namespace,
        block_simultaneous_read=stream.block_simultaneous_read,
    )
