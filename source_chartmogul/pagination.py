"""The cross-page guard of the installed connector's lists: the manifest's own cursor pagination, which also fails a
cursor that repeats the one just sent. The manifest alone cannot: no expression it runs is given the cursor sent
(docs/chartmogul.md, "What the manifest alone lacks"). source.py wraps every CursorPagination of the manifest in it.
"""

from __future__ import annotations

from dataclasses import InitVar, dataclass
from typing import Any, Mapping, Optional

import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.requesters.paginators.strategies.cursor_pagination_strategy import (
    CursorPaginationStrategy,
)
from airbyte_cdk.sources.declarative.requesters.paginators.strategies.pagination_strategy import PaginationStrategy
from airbyte_cdk.sources.types import Config, Record, StreamSlice
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

# On the partition's slice (extra_fields, which lives from page to page): the cursor sent for the page being read.
# A resumed read starts with its saved cursor there (resumable.py), which the manifest's `resumed_cursor` sends.
CURSOR_SENT = "chartmogul_cursor_sent"
EMPTY_REPEATS = "chartmogul_empty_repeats"
EMPTY_REPEATS_FOLLOWED = 5  # empty pages repeating the cursor sent (ChartMogul had nothing ready yet) followed in a row


def _stop(sentence: str) -> AirbyteTracedException:
    return AirbyteTracedException(message=sentence, internal_message=sentence, failure_type=FailureType.transient_error)


@dataclass
class RepeatedCursorGuard(PaginationStrategy):
    """`strategy` (the manifest's CursorPagination, built by the CDK's factory) decides the next cursor or the end;
    this fails a cursor equal to the one sent for a page with records (it would read that page again, or loop), and a
    sixth empty page in a row that repeats it. It remembers the cursor sent on the partition's slice."""

    strategy: CursorPaginationStrategy
    config: Config
    parameters: InitVar[Mapping[str, Any]]

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._resource: str = parameters["resource"]
        self._records_key: Optional[str] = parameters.get("records_key")

    @property
    def initial_token(self) -> Optional[Any]:
        return self.strategy.initial_token

    def get_page_size(self) -> Optional[int]:
        return self.strategy.get_page_size()

    def next_page_token(
        self,
        response: requests.Response,
        last_page_size: int,
        last_record: Optional[Record],
        last_page_token_value: Optional[Any] = None,
        page_size_override: Optional[int] = None,
        stream_slice: Optional[StreamSlice] = None,
    ) -> Optional[Any]:
        cursor = self.strategy.next_page_token(response, last_page_size, last_record, last_page_token_value,
                                               page_size_override=page_size_override, stream_slice=stream_slice)
        if cursor is None:
            return None
        memory = stream_slice.extra_fields if stream_slice is not None else {}
        sent = last_page_token_value if last_page_token_value is not None else memory.get(CURSOR_SENT)
        repeats = memory.get(EMPTY_REPEATS, 0) + 1 if cursor == sent else 0
        where = self._resource.format_map(stream_slice or {})
        if repeats and next(iter(self.strategy.decoder.decode(response)), {}).get(self._records_key):
            raise _stop(f"ChartMogul returned the cursor it was sent for {where}: following it would read the same page"
                        " again; retry the sync later")
        if repeats > EMPTY_REPEATS_FOLLOWED:
            raise _stop(f"ChartMogul kept answering empty pages with the same cursor for {where}"
                        f" ({EMPTY_REPEATS_FOLLOWED} times): retry the sync later")
        memory[EMPTY_REPEATS] = repeats
        memory[CURSOR_SENT] = cursor  # resumable.py's page checkpoint reads it
        return cursor


def guarded(pagination_strategy: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest's CursorPagination definition wrapped in the guard."""
    return {"type": "CustomPaginationStrategy", "class_name": f"{__name__}.{RepeatedCursorGuard.__name__}",
            "strategy": dict(pagination_strategy)}
