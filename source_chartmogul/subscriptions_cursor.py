"""Which customers' subscriptions a sync reads, and where an interrupted sync resumes: the customer_subscriptions
cursor of the installed connector (source.py installs it where the manifest declares `incremental:
customers_of_new_activities`; the manifest alone reads every customer, in full refresh).

Why Python: airbyte-cdk 7.39.1 lets a manifest's incremental_sync be only a DatetimeBasedCursor or an
IncrementingCountCursor. On a partitioned stream that becomes a per-partition cursor, which keeps one entry per customer
and still asks every customer's subscriptions. What ChartMogul offers instead is the activities list, filtered by date:
a customer's subscriptions change with an activity, except a renewal that moves `end-date`. So this cursor reads, from
a state, the subscriptions of the customers with an activity new since the last sync: dated after the state's
activities date, or on a day of the lookback before it whose digest (count and xor of crc32 of the uuids of its
activities, kept in the state: ~31 small entries) changed, which is how a back-dated activity shows; plus a rotating
share of all customers (every customer at least every `subscriptions_reread_days`). docs/chartmogul.md states what
that catches when.

`state_problem` refuses a saved state this cursor cannot use (source.py words it as one line).

The fan-out checkpoints as it goes: partitions close out of order, so the state names the completed prefix of the
customers list (its length and last customer uuid), and a sync given that state back skips the prefix.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import zlib
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Iterator, Mapping, MutableMapping, Optional

from airbyte_cdk.sources.message import MessageRepository
from airbyte_cdk.sources.streams import NO_CURSOR_STATE_KEY
from airbyte_cdk.sources.streams.concurrent.abstract_stream import AbstractStream
from airbyte_cdk.sources.streams.concurrent.partitions.partition import Partition
from airbyte_cdk.sources.types import StreamSlice

from source_chartmogul.resumable import CheckpointCursor

LOGGER = logging.getLogger("airbyte.customer_subscriptions")

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


def days_before(state_date: str, days: int) -> str:
    """A state date moved `days` days back, in the state's format (the activities cursor's lookback arithmetic)."""
    moved = datetime.strptime(state_date, STATE_DATE_FORMAT).replace(tzinfo=timezone.utc) - timedelta(days=days)
    return moved.strftime(STATE_DATE_FORMAT)


Activity = tuple[str, str, Optional[str]]  # (date in the state's format, activity uuid, customer uuid or None)


def activity_days(activities: Iterable[Activity], since: str, until: str) -> dict[str, list[int]]:
    """The per-day digest of the activities dated since <= date <= until: {"yyyy-mm-dd": [count, xor of the crc32 of
    their uuids]} for the UTC days that have any. Two readings of the same span agree on a day unless an activity was
    added to it or removed from it (dates in the state's format: text order is time order)."""
    days: dict[str, list[int]] = {}
    for date, uuid, _ in activities:
        if since <= date <= until:
            day = days.setdefault(date[:10], [0, 0])
            day[0] += 1
            day[1] ^= zlib.crc32(uuid.encode("utf-8"))
    return dict(sorted(days.items()))


class ActivityCustomers:
    """The activities the manifest's own `activities` stream lists, read through a copy of that stream built by the
    CDK's factory (source.py) with its state seeded from this stream's `parent_state.activities`: the windows from that
    date minus the lookback to end_date, each activity kept in its own window, as the activities stream reads them."""

    def __init__(self, activities: AbstractStream) -> None:
        self._activities = activities

    def since_state(self) -> list[Activity]:
        """Every activity of the windows."""
        return [activity for window in self._activities.generate_partitions() for activity in self._read(window)]

    def newest(self, lookback_days: int) -> list[Activity]:
        """The activities of the newest windows, read newest first until they cover the newest activity date minus
        the lookback (none if no window has any): a sync without state reads every customer, and needs only the
        newest date and the digest of the lookback before it for its state. This costs the empty windows after the
        newest activity plus those of the lookback, not the whole history."""
        read: list[Activity] = []
        since: Optional[str] = None
        for window in reversed(list(self._activities.generate_partitions())):
            read += self._read(window)
            if read and since is None:
                since = days_before(max(date for date, _, _ in read), lookback_days)
            if since is not None and str(window.to_slice()["start_time"])[:19] <= since[:19]:
                break
        return read

    @staticmethod
    def _read(window: Partition) -> list[Activity]:
        return [(_state_date(record.data["date"]), record.data.get("uuid") or "", record.data.get("customer-uuid") or None)
                for record in window.read()]  # the window filter read the date


class CustomerSubscriptionsCursor(CheckpointCursor):
    """Slices customer_subscriptions (one per selected customer, in the customers list's order), checkpoints the
    completed prefix of the list, and writes the state (shape in docs/chartmogul.md):

    incremental: {"parent_state": {"activities": {"date": D}}, "rotation_day": day, "rotation_days": N,
    "activity_days": {"lookback_days": L, "days": {"yyyy-mm-dd": [count, xor], ...}}}, plus, while a sync is
    unfinished, "resume": {"position", "customer_uuid", "rotation_day", "activities_date", "activity_days"} (the prefix,
    and the day, activities date and digest this sync will write when it completes); full refresh: {"resume": {"position",
    "customer_uuid"}} while unfinished, the CDK's {"__ab_no_cursor_state_message": true} when done.
    """

    def __init__(
        self,
        stream_name: str,
        partition_field: str,  # the customer's uuid, as the partition router names it
        customers: Any,  # the stream's SubstreamPartitionRouter over the customers list, as the manifest defines it
        activities: Optional[ActivityCustomers],  # None in full refresh
        state: Mapping[str, Any],
        reread_days: int,
        start_date: str,
        lookback_days: int,
        message_repository: MessageRepository,
    ) -> None:
        super().__init__(stream_name, message_repository)
        self._partition_field = partition_field
        self._customers = customers
        self._activities = activities
        self._incremental = activities is not None
        self._reread_days = reread_days
        self._start_date = start_date
        self._lookback_days = lookback_days
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
        # The rotation_day, activities_date and activity_days this sync writes when it completes: a resumed sync's from
        # the start (kept should the stream fail before _selection), else set by _selection.
        self._this_sync: dict[str, Any] = (
            {key: self._resume[key] for key in ("rotation_day", "activities_date", "activity_days") if key in self._resume}
            if self._resume and self._incremental else {})

    # ------------------------------------------------------------------ slicing
    def stream_slices(self) -> Iterable[StreamSlice]:
        selected = self._selection()
        for position, customer in self._customers_after_the_prefix():
            uuid = customer.partition[self._partition_field]
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
        # A resumed sync completes the sync it continues: that sync's day, activities date and digest, not today's.
        today = resume.get("rotation_day", self._today)
        if old_date is None or last_day is None:  # no completed sync: every customer
            read = [] if resume else self._activities.newest(self._lookback_days)
            self._will_write(today, read, resume.get("activities_date") or max(
                (date for date, _, _ in read), default=None) or self._start_date)
            LOGGER.info("customer_subscriptions: no earlier sync in the state; reading every customer")
            return None
        read = self._activities.since_state()
        old_date = _state_date(old_date)
        customers = self._customers_to_reread(read, old_date)
        self._will_write(today, read, resume.get("activities_date") or max([old_date] + [date for date, _, _ in read]))
        due = due_buckets(last_day if same_rotation else None, today, self._reread_days)
        LOGGER.info(f"customer_subscriptions: {len(customers)} customers with activities new since {old_date} or on"
                    f" a day of its lookback that changed, and rotation buckets {sorted(due)} of {self._reread_days}")
        if len(due) == self._reread_days:
            return None
        return lambda uuid: uuid in customers or bucket_of(uuid, self._reread_days) in due

    def _will_write(self, today: int, read: list[Activity], newest: str) -> None:
        """What this sync's completed state will say: its day, the newest activity date, and the digest of the
        lookback before that date (a resumed sync's: the one its interrupted attempt read; none if that had none)."""
        if self._resume:
            digest = self._resume.get("activity_days")
        else:
            digest = {"lookback_days": self._lookback_days,
                      "days": activity_days(read, days_before(newest, self._lookback_days), newest)}
        self._this_sync = {"rotation_day": today, "activities_date": newest,
                           **({"activity_days": digest} if digest is not None else {})}

    def _customers_to_reread(self, read: list[Activity], old_date: str) -> set[str]:
        """The customers of the activities dated after the state's date (new), and of every activity of a day of
        the lookback before it whose digest differs from the state's (an activity added to it, back-dated, or removed
        from it). A state without a digest of this lookback (older, or written with another lookback_window_days):
        every customer with an activity in the windows."""
        digest = self._given.get("activity_days")
        if not isinstance(digest, Mapping) or digest.get("lookback_days") != self._lookback_days:
            return {customer for _, _, customer in read if customer}
        since = days_before(old_date, self._lookback_days)
        was = {day: list(entry) for day, entry in digest["days"].items()}
        now = activity_days(read, since, old_date)
        changed = {day for day in was.keys() | now.keys() if was.get(day) != now.get(day)}
        if changed:
            LOGGER.info(f"customer_subscriptions: activities added or removed on {', '.join(sorted(changed))}")
        return {customer for date, _, customer in read
                if customer and (date > old_date or (date >= since and date[:10] in changed))}

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
                if customer.partition[self._partition_field] != end[1]:
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
                "rotation_day": self._this_sync["rotation_day"], "rotation_days": self._reread_days,
                **({"activity_days": self._this_sync["activity_days"]} if "activity_days" in self._this_sync else {})}

    def _emit(self, state: MutableMapping[str, Any]) -> None:
        self._closed_since_checkpoint = 0
        self._emit_state(state)

    @property
    def state(self) -> MutableMapping[str, Any]:
        with self._lock:
            return self._checkpoint()


# ---------------------------------------------------------------------------------------------- the saved state
FUTURE = "in the future: a sync from it would read nothing"


# An ISO 8601 date-time with a UTC offset: what the activities cursor writes (STATE_DATE_FORMAT), what records carry
# (+00:00), and the forms other tools write (a fraction of a second, another offset, a space for the T).
_ISO_DATE_TIME = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ]([0-9]{2}:[0-9]{2}:[0-9]{2})(?:[.,][0-9]+)?([Zz]|[+-][0-9]{2}:?[0-9]{2})")


def utc_date_time(date: Any) -> Optional[datetime]:
    """`date` as a UTC datetime in whole seconds (a fraction dropped: a sync from it misses nothing), if it is an ISO
    8601 date-time with a UTC offset; None otherwise."""
    match = _ISO_DATE_TIME.fullmatch(date) if isinstance(date, str) else None
    if match is None:
        return None
    day, clock, offset = match.groups()
    try:
        parsed = datetime.strptime(f"{day}T{clock}{'+0000' if offset in 'Zz' else offset.replace(':', '')}", "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:  # a 13th month, a 25th hour
        return None
    return parsed.astimezone(timezone.utc)


def state_date(date: Any) -> Any:
    """A saved cursor date in the one format the CDK's activities cursor parses back (STATE_DATE_FORMAT), the same
    instant; `date` itself if it is no UTC date-time (date_problem refuses it)."""
    parsed = utc_date_time(date)
    return parsed.strftime(STATE_DATE_FORMAT) if parsed else date


def date_problem(date: Any) -> Optional[str]:
    """Why `date` cannot be a saved activities cursor (the activities stream's, or this stream's parent_state), or
    None: it must be a UTC date-time, not after now."""
    parsed = utc_date_time(date)
    if parsed is None:
        return "not a UTC date-time"
    return FUTURE if parsed > datetime.now(timezone.utc) else None


def dated_problem(key: str, value: Any) -> Optional[str]:
    """Why `value`, the state's `key`, cannot be an activities cursor, worded to follow "The saved state of <stream>";
    None if it can."""
    reason = date_problem(value)
    return f"has {key} {value if reason == FUTURE else repr(value)}, {reason}" if reason else None


def state_problem(state: Any) -> Optional[str]:
    """What makes a customer_subscriptions state unusable (shape in docs/chartmogul.md), worded to follow "The saved
    state of customer_subscriptions"; None if it is usable."""
    if not isinstance(state, Mapping):
        return f"is {state!r}, not an object"
    today = day_number(time.time())

    def day_problem(key: str, value: Any) -> Optional[str]:
        if not _is_count(value, 0):
            return f"has {key} {value!r}, not a day number (UTC days since 1970-01-01)"
        return f"has {key} {value}, a day in the future (today is {today})" if value > today else None

    if "parent_state" in state:
        parent = state["parent_state"]
        date = parent.get("activities", {}).get("date") if isinstance(parent, Mapping) and isinstance(parent.get("activities"), Mapping) else None
        if date is None:
            return f"has parent_state {parent!r}, not {{\"activities\": {{\"date\": ...}}}}"
        problem = dated_problem("parent_state.activities.date", date)
        if problem:
            return problem
    if "rotation_day" in state:
        problem = day_problem("rotation_day", state["rotation_day"])
        if problem:
            return problem
    if "rotation_days" in state and not _is_count(state["rotation_days"], 1):
        return f"has rotation_days {state['rotation_days']!r}, not a whole number of days of at least 1"
    resume = state.get("resume", {})
    if "resume" in state:
        if not isinstance(resume, Mapping):
            return f"has resume {resume!r}, not an object"
        if not _is_count(resume.get("position"), 0):
            return f"has resume.position {resume.get('position')!r}, not a position in the customers list"
        if not isinstance(resume.get("customer_uuid"), str) or not resume["customer_uuid"]:
            return f"has resume.customer_uuid {resume.get('customer_uuid')!r}, not a customer uuid"
        for key, check in (("rotation_day", day_problem), ("activities_date", dated_problem)):
            problem = check(f"resume.{key}", resume[key]) if key in resume else None
            if problem:
                return problem
    for key, digest in (("activity_days", state.get("activity_days")), ("resume.activity_days", resume.get("activity_days"))):
        problem = _digest_problem(key, digest) if digest is not None else None
        if problem:
            return problem
    # A completed incremental sync writes all three (and its digest); the CDK would read a lone value as the
    # activities' cursor.
    completed = [key for key in ("parent_state", "rotation_day", "rotation_days", "activity_days") if key in state]
    if completed and len([key for key in completed if key != "activity_days"]) < 3:
        return f"has {' and '.join(completed)} without the rest of parent_state, rotation_day and rotation_days"
    return None


def _is_count(value: Any, least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def _digest_problem(key: str, digest: Any) -> Optional[str]:
    """What makes an activity_days digest unusable, or None."""
    if not isinstance(digest, Mapping) or set(digest) != {"lookback_days", "days"}:
        return f"has {key} of another shape, not {{\"lookback_days\": <days>, \"days\": {{\"yyyy-mm-dd\": [count, xor], ...}}}}"
    lookback = digest["lookback_days"]
    if not _is_count(lookback, 0):
        return f"has {key}.lookback_days {lookback!r}, not a whole number of days"
    if not isinstance(digest["days"], Mapping):
        return f"has {key}.days {digest['days']!r}, not an object of UTC days"
    for day, entry in digest["days"].items():
        try:
            valid_day = datetime.strptime(day, "%Y-%m-%d").strftime("%Y-%m-%d") == day
        except (TypeError, ValueError):
            valid_day = False
        if not valid_day:
            return f"has {key}.days key {day!r}, not a UTC day (yyyy-mm-dd)"
        if not (isinstance(entry, list) and len(entry) == 2 and _is_count(entry[0], 1) and _is_count(entry[1], 0)
                and entry[1] < 2 ** 32):
            return f"has {key}.days[{day!r}] {entry!r}, not [count, xor of the crc32 of its activities' uuids]"
    return None
