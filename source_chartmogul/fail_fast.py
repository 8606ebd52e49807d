"""One cause, one error (installed connector only): a refused key stops every request of the sync, and an endpoint
that keeps failing stops its stream after a few partitions, rather than each of thousands of partitions spending its
own minute of retries. run.py then emits one error trace per stream and a summary typed as its cause.

The manifest alone fails each partition on its own (docs/chartmogul.md, "What the manifest alone lacks").
"""

from __future__ import annotations

import contextvars
import json
import logging
import threading
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional
from urllib.parse import urlsplit, urlunsplit

import requests
from airbyte_cdk.models import FailureType, StreamDescriptor
from airbyte_cdk.sources.declarative.auth.token import BasicHttpAuthenticator
from airbyte_cdk.sources.streams.concurrent.partitions.partition import Partition
from airbyte_cdk.sources.streams.concurrent.partitions.partition_generator import PartitionGenerator
from airbyte_cdk.sources.streams.http.exceptions import BaseBackoffException
from airbyte_cdk.sources.types import Record
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_chartmogul.resumable import WrappedPartition

# The internal message of an error that follows from an earlier one (a request not sent after the key was refused, a
# partition not read after its endpoint kept failing): run.py emits no trace for it; the earlier error has one.
CONSEQUENCE = "chartmogul: not attempted, because of an earlier error of this sync"
REFUSED = (401, 403)
FAILED_PARTITIONS_IN_A_ROW = 3  # then the endpoint is taken as down for the rest of the sync


class KeyRefusal:
    """Whether ChartMogul has refused this sync's key (shared by every stream's requests)."""

    def __init__(self) -> None:
        self.status: Optional[int] = None

    def refuse(self, status: int) -> None:
        if self.status is None:
            self.status = status


THIS_SYNC: contextvars.ContextVar[KeyRefusal] = contextvars.ContextVar("chartmogul_key_refusal")


@dataclass
class KeyStopsAtRefusal(BasicHttpAuthenticator):
    """The manifest's BasicHttpAuthenticator, which also sees every response (the CDK's ResponseAwareAuthenticator
    protocol): after a 401 or 403 no request of the sync is signed with the key again; each fails at once instead."""

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        super().__post_init__(parameters)
        self._refusal = THIS_SYNC.get(KeyRefusal())  # set by the source while it builds its streams

    def update_from_response(self, request: requests.PreparedRequest, response: requests.Response) -> None:
        if response.status_code in REFUSED:
            self._refusal.refuse(response.status_code)

    def get_auth_header(self) -> Mapping[str, Any]:
        if self._refusal.status is not None:
            raise AirbyteTracedException(
                message=f"ChartMogul refused the API key (HTTP {self._refusal.status}) earlier in this sync: no further"
                        " request was sent with it.",
                internal_message=CONSEQUENCE, failure_type=FailureType.config_error)
        return super().get_auth_header()


def guarded_authenticator(authenticator: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest's BasicHttpAuthenticator definition, stopping at a refusal."""
    return {**authenticator, "type": "CustomAuthenticator", "class_name": f"{__name__}.{KeyStopsAtRefusal.__name__}"}


class EndpointBreaker(PartitionGenerator):
    """A stream's partitions; once FAILED_PARTITIONS_IN_A_ROW of them failed in a row with a transient error (ChartMogul
    kept answering 5xx or 429, or not at all, through every retry), the partitions not yet read fail at once, without
    a request: the stream fails within a partition's retries (about a minute), whatever its number of partitions."""

    def __init__(self, partitions: PartitionGenerator, endpoint: str) -> None:
        self._partitions = partitions
        self._endpoint = endpoint
        self._lock = threading.Lock()
        self._failed_in_a_row = 0
        self._down: Optional[str] = None

    def generate(self) -> Iterable[Partition]:
        for partition in self._partitions.generate():
            yield BrokenOff(partition, self)

    def read(self, partition: Partition) -> Iterable[Record]:
        if self._down is not None:
            raise AirbyteTracedException(message=self._down, internal_message=CONSEQUENCE,
                                         failure_type=FailureType.transient_error)
        try:
            yield from partition.read()
        except AirbyteTracedException as raised:
            error = unanswered(raised, partition.stream_name()) or raised
            if error.failure_type == FailureType.transient_error:
                with self._lock:
                    self._failed_in_a_row += 1
                    if self._failed_in_a_row >= FAILED_PARTITIONS_IN_A_ROW and self._down is None:
                        self._down = (f"ChartMogul kept failing at {self._endpoint} for {self._failed_in_a_row} partitions"
                                      f" in a row; the rest of {partition.stream_name()} was not asked. Retry the sync later.")
            if error is raised:
                raise
            raise error from raised
        with self._lock:
            self._failed_in_a_row = 0


def unanswered(error: AirbyteTracedException, stream: str) -> Optional[AirbyteTracedException]:
    """A request that got no answer through its retries (a reset, a timeout, a closed port or a host that does not
    resolve) as a transient error that names the URL and base_url; the CDK types it system_error ("Exhausted available
    request attempts", its declarative error mapping keyed by exception class misses every exception). None otherwise."""
    exhausted = error.__context__  # what the CDK's HttpClient raised it from
    if not isinstance(exhausted, BaseBackoffException) or exhausted.response is not None or exhausted.request is None:
        return None
    parts = urlsplit(str(exhausted.request.url))
    url = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    message = (f"ChartMogul did not answer at {url} through its retries ({exhausted}). Retry the sync later; if it"
               f" persists, check base_url (ChartMogul's is {DEFAULT_BASE_URL}) and the network.")
    return AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.transient_error,
                                  stream_descriptor=StreamDescriptor(name=stream))


class BrokenOff(WrappedPartition):
    def __init__(self, partition: Partition, breaker: EndpointBreaker) -> None:
        super().__init__(partition)
        self._breaker = breaker

    def read(self) -> Iterable[Record]:
        yield from self._breaker.read(self._partition)


DEFAULT_BASE_URL = "https://api.chartmogul.com"
SUMMARY_START = "During the sync, the following streams did not sync successfully"  # the CDK's closing error
STREAM_EXCEPTION_LOG = "Exception while syncing stream "  # the CDK's log of each failed partition, with its traceback


class OneErrorPerStream(logging.Filter):
    """What a failed sync shows: the first error trace of each stream (later ones repeat its cause, or follow from it),
    none for a consequence, the CDK's traceback log once a stream, and a closing summary of those errors typed as
    their cause (the CDK types it config_error whatever the cause, which the platform does not retry)."""

    def __init__(self) -> None:
        super().__init__()
        self._failed: dict[str, None] = {}  # the streams that failed, in order
        self._causes: dict[tuple[str, FailureType], None] = {}  # the errors shown (message, failure type), in order
        self._shown: set[str] = set()  # the streams with an error trace shown
        self._logged: set[str] = set()

    def keeps(self, message: str) -> bool:
        """Whether to write this serialised message."""
        if not message.startswith('{"type":"TRACE"'):
            return True
        trace = json.loads(message)["trace"]
        if trace.get("type") != "ERROR":
            return True
        error = trace["error"]
        stream = ((error.get("stream_descriptor") or {}).get("name")) or ""
        self._failed[stream] = None
        if error.get("internal_message") == CONSEQUENCE:
            return False  # its cause has (or will have, its partition may close later) a trace of its own
        cause = (error["message"], FailureType(error.get("failure_type") or "system_error"))
        shown = stream not in self._shown and cause not in self._causes
        if shown:
            self._shown.add(stream)
            self._causes[cause] = None
        return shown

    def filter(self, record: logging.LogRecord) -> bool:
        """As a filter of the CDK's log handlers: its traceback log of a failed partition once a stream, and not its
        summary (restated by `summary`)."""
        text = str(record.msg)
        if text.startswith(SUMMARY_START):
            return False
        if not text.startswith(STREAM_EXCEPTION_LOG):
            return True
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, AirbyteTracedException) and (
                error.internal_message == CONSEQUENCE or error.failure_type == FailureType.config_error):
            return False  # the trace says what to fix; a traceback would only hide it
        stream = text[len(STREAM_EXCEPTION_LOG):]
        first = stream not in self._logged
        self._logged.add(stream)
        return first

    def summary(self, failure: AirbyteTracedException) -> Optional[AirbyteTracedException]:
        """The CDK's closing error restated: the streams and their first error, typed config_error if a stream failed
        on the config, transient_error if every stream failed on something passing, else system_error. None for any
        other error."""
        if not (failure.message or "").startswith(SUMMARY_START) or not self._causes:
            return None
        types = {failure_type for _, failure_type in self._causes}
        failure_type = (FailureType.config_error if FailureType.config_error in types else FailureType.transient_error
                        if types == {FailureType.transient_error} else FailureType.system_error)
        message = f"{SUMMARY_START}: {', '.join(self._failed)}. {' '.join(message for message, _ in self._causes)}"
        return AirbyteTracedException(message=message, internal_message=message, failure_type=failure_type)
