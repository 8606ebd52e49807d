"""Python equivalents of manifest rules that run for every record or page, used by the installed connector only.

The manifest states each rule declaratively, so that it imports into the Connector Builder on its own. What runs for
every record and page is most of what limits an activities sync on one core (py-spy, `make bench --mode cpu`):
source.py swaps in these equivalents, and the tests hold both to the same records and states. The pagination rules are
here for another reason: the manifest can fail a stream only through a macro that garbles the sentence.
"""

from __future__ import annotations

import json
from dataclasses import InitVar, dataclass
from typing import Any, Generator, Iterable, Mapping, MutableMapping, Optional

import orjson
import requests
from airbyte_cdk.sources.declarative.decoders.json_decoder import JsonDecoder
from airbyte_cdk.sources.declarative.extractors.dpath_extractor import DpathExtractor
from airbyte_cdk.sources.declarative.extractors.record_filter import RecordFilter
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.requesters.error_handlers.http_response_filter import HttpResponseFilter
from airbyte_cdk.sources.declarative.requesters.paginators.strategies.pagination_strategy import PaginationStrategy
from airbyte_cdk.sources.streams.concurrent.cursor import ConcurrentCursor
from airbyte_cdk.sources.streams.concurrent.partitions.partition import Partition
from airbyte_cdk.sources.types import Config, Record, StreamSlice
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_chartmogul.resumable import CURSOR_SENT


@dataclass
class ActivityWindowFilter(RecordFilter):
    """The `activities` window rule: keep an activity only in its own window, start_time <= date <= end_time, compared
    to the second as UTC text (ChartMogul writes activity dates with +00:00). Jinja costs ~20 µs a record."""

    def filter_records(
        self,
        records: Iterable[Mapping[str, Any]],
        stream_state: Mapping[str, Any],
        stream_slice: Optional[StreamSlice] = None,
        next_page_token: Optional[Mapping[str, Any]] = None,
    ) -> Iterable[Mapping[str, Any]]:
        start, end = stream_slice["start_time"][:19], stream_slice["end_time"][:19]  # type: ignore[index]
        return (record for record in records if start <= record["date"][:19] <= end)


@dataclass
class TopLevelKeyExtractor(DpathExtractor):
    """The DpathExtractor for a one-key path (`entries`): the records under that key of the JSON body.

    dpath.get walks every value of the body looking for a second match, about 15% of an activities sync."""

    def extract_records(self, response: requests.Response) -> Iterable[MutableMapping[Any, Any]]:
        (key,) = [path.eval(self.config) for path in self._field_path]
        for body in self.decoder.decode(response):
            extracted = body.get(key) if isinstance(body, Mapping) else None
            if isinstance(extracted, list):
                yield from extracted
            elif extracted:
                yield extracted


class NewestRecordDateByWindow:
    """The activities cursor's bookkeeping of each window's newest record date, as ConcurrentCursor.observe keeps it,
    without a strptime and two slice hashes (json.dumps) a record.

    The CDK parses every record's date with strptime, which holds a module-wide lock that the workers queue on: with
    10 workers and no latency this halved the records per second. Here each window's newest date is kept as text by
    the identity of the window's slice, which every record of the partition carries, and given to the cursor, parsed
    once, when the window closes. Dates as ChartMogul writes them (yyyy-mm-ddThh:mm:ss+00:00) sort as text in time
    order; any other value goes the CDK's own way. As in the CDK, a window is observed by one worker only.
    """

    def __init__(self, cursor: ConcurrentCursor) -> None:
        self._cursor = cursor
        self._close_partition = cursor.close_partition
        self._newest: dict[int, tuple[Any, str]] = {}  # id(window slice) -> (that slice, to hold the id; newest date)

    @classmethod
    def install(cls, cursor: ConcurrentCursor) -> None:
        tracker = cls(cursor)
        cursor.observe = tracker.observe  # type: ignore[method-assign]
        cursor.close_partition = tracker.close_partition  # type: ignore[method-assign]

    def observe(self, record: Record) -> None:
        date = record.data.get(self._cursor.cursor_field.cursor_field_key)
        if not (isinstance(date, str) and len(date) == 25 and date.endswith("+00:00")):
            ConcurrentCursor.observe(self._cursor, record)
            return
        window = record.associated_slice
        newest = self._newest.get(id(window))
        if newest is None or newest[1] < date:
            self._newest[id(window)] = (window, date)

    def close_partition(self, partition: Partition) -> None:
        window = partition.to_slice()
        newest = self._newest.pop(id(window), None)
        if newest is not None:
            try:
                value = self._cursor._connector_state_converter.parse_value(newest[1])
            except ValueError:  # a +00:00 text that is no date: the CDK would have skipped it with this warning
                self._cursor._log_for_record_without_cursor_value()
            else:
                observed = self._cursor._most_recent_cursor_value_per_partition
                if observed.get(window) is None or observed[window] < value:
                    observed[window] = value
        self._close_partition(partition)


_PARSED_BODY = "_chartmogul_parsed_body"  # where a response keeps its parsed body
_NOT_JSON = object()


def _parsed_once(response: requests.Response) -> Any:
    """The body, parsed on first use and kept on the response: the CDK parsed each page three times (error handler,
    extractor, paginator). orjson first, as the CDK's JsonDecoder; a body orjson refuses is tried with json."""
    if _PARSED_BODY not in response.__dict__:
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            try:
                body = json.loads(response.content)
            except ValueError:
                body = _NOT_JSON
        response.__dict__[_PARSED_BODY] = body
    return response.__dict__[_PARSED_BODY]


def json_body_or_empty(response: requests.Response) -> Any:
    """The JSON body, or {} if it is not JSON: what HttpResponseFilter gives its predicates (our `{{ not response }}`
    check of every page). The CDK's filter parses with response.json(): the standard library, 3-4x slower."""
    body = _parsed_once(response)
    return {} if body is _NOT_JSON else body


def check_json_bodies_with_orjson() -> None:
    """A class attribute of the CDK's, set for this process: the factory gives no way to choose the filter's class."""
    HttpResponseFilter._safe_response_json = staticmethod(json_body_or_empty)  # type: ignore[method-assign]


class OncePerResponseJsonDecoder(JsonDecoder):
    """The CDK's JsonDecoder (for the extractor and the paginator) on the body parsed once per response: the same
    elements as the CDK's (a list's items; {} for an empty list; {} twice for null or no JSON; else the body)."""

    def __init__(self, parameters: Optional[Mapping[str, Any]] = None) -> None:  # the factory passes none
        super().__init__(parameters or {})

    def decode(self, response: requests.Response) -> Generator[MutableMapping[str, Any], None, None]:
        body = _parsed_once(response)
        if body is None or body is _NOT_JSON:
            yield from ({}, {})
        elif isinstance(body, list):
            yield from body or [{}]
        else:
            yield body


EMPTY_REPEATS_FOLLOWED = 5  # empty pages repeating the cursor sent (nothing ready yet) followed before giving up


def _stop(sentence: str) -> AirbyteTracedException:
    return AirbyteTracedException(message=sentence, internal_message=sentence, failure_type=FailureType.transient_error)


@dataclass
class ChartMogulPagination(PaginationStrategy):
    """The rules of the manifest's `definitions.cursor_paginator` (read its comments), failing with their sentences
    as the CDK's own error: the manifest can only fail through the duration() macro, which wraps each sentence in
    "Unable to parse duration string '...'". Tests hold the two to the same tokens, ends and sentences."""

    config: Config
    parameters: InitVar[Mapping[str, Any]]
    page_size: int = 200

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._resource: str = parameters["resource"]
        self._records_key: Optional[str] = parameters.get("records_key")

    @property
    def initial_token(self) -> Optional[Any]:
        return None

    def get_page_size(self) -> Optional[int]:
        return self.page_size

    def next_page_token(
        self,
        response: requests.Response,
        last_page_size: int,
        last_record: Optional[Record],
        last_page_token_value: Optional[Any] = None,
        page_size_override: Optional[int] = None,
        stream_slice: Optional[StreamSlice] = None,
    ) -> Optional[Any]:
        body = next(iter(OncePerResponseJsonDecoder().decode(response)))  # what the manifest's expressions see
        meta = body.get("meta") if isinstance(body.get("meta"), Mapping) else {}

        def hint(key: str, meta_key: str) -> Any:
            return body[key] if key in body else meta.get(meta_key)

        has_more, cursor = hint("has_more", "has_more"), hint("cursor", "cursor")
        page, total_pages = hint("current_page", "page"), hint("total_pages", "total_pages")
        counted = all(isinstance(n, int) and not isinstance(n, bool) for n in (page, total_pages))
        more = has_more if has_more is not None else (page < total_pages if counted else cursor)
        where = self._resource.format_map(stream_slice or {})
        memory = stream_slice.extra_fields if stream_slice is not None else {}
        # the cursor sent: the last token, or on a resumed read's first page the saved cursor it was sent with
        sent = last_page_token_value if last_page_token_value is not None else memory.get(CURSOR_SENT)
        repeats = memory.get("chartmogul_empty_repeats", 0) + 1 if cursor == sent else 0
        if has_more is None and not counted and not cursor:
            raise _stop(f"ChartMogul answered {where} without has_more, a cursor or page counts: whether the list goes"
                        " on is unknown; retry the sync later")
        if not more:
            return None
        if not cursor and has_more is None:
            raise _stop(f"ChartMogul answered page {page} of {total_pages} of {where} without a cursor: the rest of the"
                        " list can only be asked by page number, which the API deprecates; retry the sync later")
        if not cursor:
            raise _stop(f"ChartMogul answered has_more true without a cursor for {where}: the rest of the list cannot be"
                        " read; retry the sync later")
        if cursor == sent and body.get(self._records_key):
            raise _stop(f"ChartMogul returned the cursor it was sent for {where}: following it would read the same page"
                        " again; retry the sync later")
        if repeats > EMPTY_REPEATS_FOLLOWED:
            raise _stop(f"ChartMogul kept answering empty pages with the same cursor for {where}"
                        f" ({EMPTY_REPEATS_FOLLOWED} times): retry the sync later")
        memory["chartmogul_empty_repeats"] = repeats
        memory[CURSOR_SENT] = cursor  # the page checkpoint of resumable.py reads it (as the manifest remembers it)
        return cursor
