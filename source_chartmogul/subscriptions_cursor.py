"""Which customers' subscriptions a sync reads, and where an interrupted sync resumes: the customer_subscriptions
cursor of the installed connector (source.py installs it; the manifest alone reads every customer, in full refresh).

Why Python: airbyte-cdk 7.39.1 lets a manifest's incremental_sync be only a DatetimeBasedCursor or an
IncrementingCountCursor. On a partitioned stream that becomes a per-partition cursor, which keeps one entry per customer
and still asks every customer's subscriptions. What ChartMogul offers instead is the activities list, filtered by date:
a customer's subscriptions change with an activity, except a renewal that moves `end-date`. So this cursor reads, from
a state, the subscriptions of the customers with an activity since the state's activities date (minus the lookback),
plus a rotating share of all customers (every customer at least every `subscriptions_reread_days`), with a state of a
few keys. docs/chartmogul.md states what that catches when.

The fan-out checkpoints as it goes: partitions close out of order, so the state names the completed prefix of the
customers list (its length and last customer uuid), and a sync given that state back skips the prefix.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator, Mapping, MutableMapping, Optional

from airbyte_cdk.sources.connector_state_manager import ConnectorStateManager
from airbyte_cdk.sources.message import MessageRepository
from airbyte_cdk.sources.streams import NO_CURSOR_STATE_KEY
from airbyte_cdk.sources.streams.concurrent.abstract_stream import AbstractStream
from airbyte_cdk.sources.streams.concurrent.cursor import Cursor
from airbyte_cdk.sources.streams.concurrent.partitions.partition import Partition
from airbyte_cdk.sources.types import Record, StreamSlice

LOGGER = logging.getLogger("airbyte.customer_subscriptions")

STREAM = "customer_subscriptions"
PARTITION_FIELD = "customer_uuid"
DEFAULT_REREAD_DAYS = 7
CHECKPOINT_EVERY = 100  # partitions closed between two checkpoints: a STATE message is ~200 bytes
STATE_DATE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # the activities stream's datetime_format, which its cursor parses back
DAY_SECONDS = 86400


def bucket_of(customer_uuid: str, reread_days: int) -> int:
    """The rotation bucket of a customer (docs/chartmogul.md; scripts/bench.py applies the same rule)."""
    return zlib.crc32(customer_uuid.encode("utf-8")) % reread_days


def due_buckets(last_day: Optional[int], today: int, reread_days: int) -> set[int]:
    """The buckets due today when the last completed sync ran on `last_day` (None: never)."""
    if last_day is None or today - last_day >= reread_days:
        return set(range(reread_days))
    return {day % reread_days for day in range(last_day + 1, today + 1)}


def day_number(epoch_seconds: float) -> int:
    """UTC days since 1970-01-01."""
    return int(epoch_seconds // DAY_SECONDS)


def _state_date(record_date: str) -> str:
    """An activity date as records carry it (2016-01-01T12:00:00+00:00) in the state's format."""
    return datetime.fromisoformat(record_date.replace("Z", "+00:00")).astimezone(timezone.utc).strftime(STATE_DATE_FORMAT)


class ActivityCustomers:
    """The activities the manifest's own `activities` stream lists, read through a copy of that stream built by the
    CDK's factory (source.py) with its state seeded from this stream's `parent_state.activities`: the windows from that
    date minus the lookback to end_date, each activity kept in its own window, as the activities stream reads them."""

    def __init__(self, activities: AbstractStream) -> None:
        self._activities = activities

    def since_state(self) -> tuple[set[str], Optional[str]]:
        """The customers with an activity in the windows, and the newest activity date among them (None if none)."""
        customers: set[str] = set()
        newest: Optional[str] = None
        for window in self._activities.generate_partitions():
            for record in window.read():
                if record.data.get("customer-uuid"):
                    customers.add(record.data["customer-uuid"])
                newest = max(newest or "", _state_date(record.data["date"]))  # the window filter read the date
        return customers, newest

    def newest_date(self) -> Optional[str]:
        """The newest activity date of the account, from the newest window that has any (None if none has): a sync
        without state reads every customer, and needs only this date for its state. Windows are read newest first,
        so this costs the empty windows after the newest activity plus one, not the whole history."""
        for window in reversed(list(self._activities.generate_partitions())):
            dates = [_state_date(record.data["date"]) for record in window.read()]
            if dates:
                return max(dates)
        return None


class CustomerSubscriptionsCursor(Cursor):
    """Slices customer_subscriptions (one per selected customer, in the customers list's order), checkpoints the
    completed prefix of the list, and writes the state (shape in docs/chartmogul.md):

    incremental: {"parent_state": {"activities": {"date": D}}, "rotation_day": day, "rotation_days": N}, plus, while a
    sync is unfinished, "resume": {"position", "customer_uuid", "rotation_day", "activities_date"} (the prefix, and the
    day and activities date this sync will write when it completes); full refresh: {"resume": {"position",
    "customer_uuid"}} while unfinished, the CDK's {"__ab_no_cursor_state_message": true} when done.
    """

    def __init__(
        self,
        customers: Any,  # the stream's SubstreamPartitionRouter over the customers list, as the manifest defines it
        activities: Optional[ActivityCustomers],  # None in full refresh
        state: Mapping[str, Any],
        reread_days: int,
        start_date: str,
        message_repository: MessageRepository,
        connector_state_manager: ConnectorStateManager,
    ) -> None:
        self._customers = customers
        self._activities = activities
        self._incremental = activities is not None
        self._reread_days = reread_days
        self._start_date = start_date
        self._message_repository = message_repository
        self._state_manager = connector_state_manager
        self._today = day_number(time.time())  # built as the sync starts
        self._given = dict(state)
        resume = state.get("resume") if isinstance(state.get("resume"), Mapping) else None
        needs = ("position", "customer_uuid") + (("rotation_day", "activities_date") if self._incremental else ())
        self._resume: Optional[Mapping[str, Any]] = resume if resume and all(k in resume for k in needs) else None
        self._lock = threading.Lock()
        self._next_sequence = 0
        self._sequence_of: dict[int, tuple[int, StreamSlice]] = {}  # id(slice) -> (its sequence, the slice, to hold the id)
        self._position_of: dict[int, tuple[int, str]] = {}  # sequence -> (position in the customers list, uuid)
        self._closed_ahead: set[int] = set()  # closed sequences beyond the completed prefix
        self._prefix = 0  # sequences 0 .. prefix-1 are closed
        self._prefix_end: Optional[tuple[int, str]] = (resume["position"], resume["customer_uuid"]) if self._resume else None
        self._closed_since_checkpoint = 0
        self._generation_done = False
        # The rotation_day and activities_date this sync writes when it completes: a resumed sync's from the start
        # (kept should the stream fail before _selection), else set by _selection.
        self._this_sync: dict[str, Any] = (
            {key: self._resume[key] for key in ("rotation_day", "activities_date")} if self._resume and self._incremental else {})

    # ------------------------------------------------------------------ slicing
    def stream_slices(self) -> Iterable[StreamSlice]:
        selected = self._selection()
        for position, customer in self._customers_after_the_prefix():
            uuid = customer.partition[PARTITION_FIELD]
            if selected is not None and not selected(uuid):
                continue
            with self._lock:
                sequence = self._next_sequence
                self._next_sequence += 1
                self._sequence_of[id(customer)] = (sequence, customer)
                self._position_of[sequence] = (position, uuid)
            yield customer
        with self._lock:
            self._generation_done = True

    def _selection(self) -> Optional[Any]:
        """The rule choosing customers (None: all), and what this sync's completed state will say."""
        if not self._incremental:
            return None
        assert self._activities is not None
        resume = self._resume or {}
        last_day = self._given.get("rotation_day")
        same_rotation = self._given.get("rotation_days") == self._reread_days
        old_date = (self._given.get("parent_state") or {}).get("activities", {}).get("date")
        # A resumed sync completes the sync it continues: that sync's day and activities date, not today's.
        today = resume.get("rotation_day", self._today)
        if old_date is None or last_day is None:  # no completed sync: every customer
            newest = resume.get("activities_date") or self._activities.newest_date() or self._start_date
            self._this_sync = {"rotation_day": today, "activities_date": newest}
            LOGGER.info("customer_subscriptions: no earlier sync in the state; reading every customer")
            return None
        customers, newest = self._activities.since_state()
        old_date = _state_date(old_date)
        newest = resume.get("activities_date") or max(old_date, newest or old_date)
        self._this_sync = {"rotation_day": today, "activities_date": newest}
        due = due_buckets(last_day if same_rotation else None, today, self._reread_days)
        LOGGER.info(f"customer_subscriptions: {len(customers)} customers with activities since {old_date} minus the"
                    f" lookback, and rotation buckets {sorted(due)} of {self._reread_days}")
        if len(due) == self._reread_days:
            return None
        return lambda uuid: uuid in customers or bucket_of(uuid, self._reread_days) in due

    def _customers_after_the_prefix(self) -> Iterator[tuple[int, StreamSlice]]:
        """The customers list with its position, without the prefix an earlier attempt completed. The prefix is
        skipped only if its last customer is still where the state says: otherwise the list changed between the
        attempts, and its customers are read again rather than some skipped."""
        held: list[tuple[int, StreamSlice]] = []
        end = self._prefix_end
        for position, customer in enumerate(self._customers.stream_slices()):
            if end is not None and position < end[0]:
                held.append((position, customer))
                continue
            if end is not None and position == end[0]:
                if customer.partition[PARTITION_FIELD] != end[1]:
                    LOGGER.warning(f"customer_subscriptions: the customers list changed since the state was written"
                                   f" (customer {end[0]} is no longer {end[1]}); reading its first customers again")
                    yield from held
                    yield position, customer
                held, end = [], None
                continue
            yield position, customer
        if held:  # the list ended before the prefix did
            yield from held

    # ------------------------------------------------------------------ progress
    def observe(self, record: Record) -> None:
        pass  # progress is by partition, not by record

    def close_partition(self, partition: Partition) -> None:
        with self._lock:
            sequence, _ = self._sequence_of.pop(id(partition.to_slice()))
            self._closed_ahead.add(sequence)
            while self._prefix in self._closed_ahead:
                self._closed_ahead.remove(self._prefix)
                self._prefix_end = self._position_of.pop(self._prefix)
                self._prefix += 1
            self._closed_since_checkpoint += 1
            if self._closed_since_checkpoint >= CHECKPOINT_EVERY:
                self._emit(self._checkpoint())

    def ensure_at_least_one_state_emitted(self) -> None:
        """Called when the stream ends, whether it completed or failed: the completed state only if every customer's
        partition was generated and closed; else the checkpoint, so that the next attempt resumes."""
        with self._lock:
            complete = self._generation_done and self._prefix == self._next_sequence
            self._emit(self._completed() if complete else self._checkpoint())

    def _checkpoint(self) -> dict[str, Any]:
        state = {k: v for k, v in self._given.items() if k != "resume" and k != NO_CURSOR_STATE_KEY} if self._incremental else {}
        if self._prefix_end is not None:
            state["resume"] = {"position": self._prefix_end[0], "customer_uuid": self._prefix_end[1],
                               **(self._this_sync if self._incremental else {})}
        return state

    def _completed(self) -> dict[str, Any]:
        if not self._incremental:
            return {NO_CURSOR_STATE_KEY: True}
        return {"parent_state": {"activities": {"date": self._this_sync["activities_date"]}},
                "rotation_day": self._this_sync["rotation_day"], "rotation_days": self._reread_days}

    def _emit(self, state: MutableMapping[str, Any]) -> None:
        self._closed_since_checkpoint = 0
        self._state_manager.update_state_for_stream(STREAM, None, state)
        self._message_repository.emit_message(self._state_manager.create_state_message(STREAM, None))

    @property
    def state(self) -> MutableMapping[str, Any]:
        with self._lock:
            return self._checkpoint()

    def should_be_synced(self, record: Record) -> bool:
        return True
