"""The ChartMogul source: the declarative manifest, built with the config, catalog and state of the command.

The installed connector runs the manifest as the Connector Builder does, with what the manifest declares but cannot
express itself (each in its own module, reached through cdk_seam.py where it needs the CDK's internals):
- every list's cursor pagination also fails a cursor that repeats the one sent (pagination.py);
- the streams the manifest marks `resumable` checkpoint their pages or parents (resumable.py);
- the stream it marks `incremental: customers_of_new_activities` reads the customers of new activities (subscriptions_cursor.py);
- a segment ChartMogul refuses is named in its stream's error (segments.py);
and the speed layer (speed/), which changes no record or state and switches off with SOURCE_CHARTMOGUL_SPEED=off.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import json
import logging
from pathlib import Path
from typing import Any, Iterable, List, Mapping, MutableMapping, Optional

from airbyte_cdk.models import (AirbyteConnectionStatus, AirbyteStateMessage, AirbyteStateMessageSerializer,
                                ConfiguredAirbyteCatalog, SyncMode)
from airbyte_cdk.sources.declarative.concurrent_declarative_source import ConcurrentDeclarativeSource
from airbyte_cdk.sources.declarative.parsers.manifest_reference_resolver import ManifestReferenceResolver
from airbyte_cdk.sources.streams.concurrent.abstract_stream import AbstractStream
from airbyte_cdk.sources.streams.concurrent.default_stream import DefaultStream
from airbyte_cdk.utils.yaml_loader import safe_load_yaml

from source_chartmogul import cdk_seam, fail_fast, pagination, resumable, segments, speed, subscriptions_cursor

MANIFEST_PATH = Path(__file__).resolve().parent / "manifest.yaml"  # absolute: never a manifest.yaml in the CWD
CUSTOMERS_OF_NEW_ACTIVITIES = "customers_of_new_activities"  # a manifest stream's `$parameters.incremental`


def written_manifest() -> Any:
    """manifest.yaml as written: what the Connector Builder imports."""
    return safe_load_yaml(MANIFEST_PATH.read_text())  # the CDK's loader: libyaml, 0.01 s rather than 0.13 s


@functools.lru_cache(maxsize=1)
def declared_streams() -> Mapping[str, Mapping[str, Any]]:
    """The streams as manifest.yaml declares them, by name, their $refs resolved (what a stream is, before the CDK
    builds it: what a saved state of it holds)."""
    resolved = ManifestReferenceResolver().preprocess_manifest(written_manifest())
    return {stream["name"]: stream for stream in resolved["streams"]}


def installed_manifest() -> Any:
    """The manifest as the installed connector runs it: every CursorPagination guarded (pagination.py), the key's use
    stopped at its refusal (fail_fast.py), and the speed layer's equivalents where it holds exactly their rules."""
    manifest = written_manifest()
    for component in components_of(manifest):
        if component.get("type") == "DefaultPaginator" and component["pagination_strategy"].get("type") == "CursorPagination":
            component["pagination_strategy"] = pagination.guarded(component["pagination_strategy"])
        if component.get("type") == "HttpRequester" and (component.get("authenticator") or {}).get("type") == "BasicHttpAuthenticator":
            component["authenticator"] = fail_fast.guarded_authenticator(component["authenticator"])
    speed.make_faster(list(components_of(manifest)))
    return manifest


def components_of(node: Any) -> Iterable[MutableMapping[str, Any]]:
    """Every mapping with a `type` in a manifest, outermost first."""
    if isinstance(node, Mapping):
        if "type" in node:
            yield node  # type: ignore[misc]
        for value in node.values():
            yield from components_of(value)
    elif isinstance(node, list):
        for value in node:
            yield from components_of(value)


class UnusableState(ValueError):
    """A saved state of a shape no stream can resume from; its message is the one line to show."""


class SourceChartmogul(ConcurrentDeclarativeSource):
    def __init__(
        self,
        catalog: Optional[ConfiguredAirbyteCatalog] = None,
        config: Optional[Mapping[str, Any]] = None,
        state: Optional[List[AirbyteStateMessage]] = None,
        config_path: Optional[str] = None,
    ) -> None:
        self._configured_catalog = catalog  # the sync mode asked of customer_subscriptions
        # The CDK interpolates the config, catalog and state given here, not those passed to check/discover/read; its
        # cursors read the saved dates in one format only.
        super().__init__(catalog=catalog or ConfiguredAirbyteCatalog(streams=[]), config=config or {},
                         state=self.readable_state(state or []), source_config=installed_manifest(), config_path=config_path)
        speed.on_source_built(self)

    # ------------------------------------------------------------------ what the manifest declares of a stream
    _declared = declared_streams()

    @classmethod
    def _parameter(cls, name: str, key: str) -> Optional[str]:
        return (cls._declared.get(name, {}).get("$parameters") or {}).get(key)

    @classmethod
    def _partition_field(cls, name: str) -> Optional[str]:
        router = cls._declared[name]["retriever"].get("partition_router") or {}
        parents = router.get("parent_stream_configs") or [{}]
        return router.get("partition_field") or parents[0].get("partition_field")  # a union's, or its parent's

    @classmethod
    def _cursor_field(cls, name: str) -> Optional[str]:
        incremental = cls._declared.get(name, {}).get("incremental_sync") or {}
        return incremental.get("cursor_field") if incremental.get("type") == "DatetimeBasedCursor" else None

    # ------------------------------------------------------------------ streams
    def streams(self, config: Mapping[str, Any]) -> List[AbstractStream]:  # type: ignore[override]
        token = fail_fast.THIS_SYNC.set(fail_fast.KeyRefusal())  # one refusal stops the requests of every stream built
        try:
            streams = super().streams(config)
        finally:
            fail_fast.THIS_SYNC.reset(token)
        speed.on_streams_built(streams)
        installed = [self._installed(stream, config) for stream in streams]
        for stream in installed:
            if isinstance(stream, DefaultStream):
                endpoint = "/v1/" + str(self._parameter(stream.name, "resource"))
                cdk_seam.wrap_partitions(stream, lambda partitions, endpoint=endpoint: fail_fast.EndpointBreaker(partitions, endpoint))
                if self._partition_field(stream.name) == segments.PARTITION_FIELD:
                    cdk_seam.wrap_partitions(stream, lambda partitions: segments.SegmentsNamed(partitions, config))
        return installed

    def _installed(self, stream: AbstractStream, config: Mapping[str, Any]) -> AbstractStream:
        if not isinstance(stream, DefaultStream):
            return stream
        if self._parameter(stream.name, "incremental") == CUSTOMERS_OF_NEW_ACTIVITIES:
            self._install_subscriptions_cursor(stream, config)
            return stream
        how = self._parameter(stream.name, "resumable")
        if how:
            return resumable.resumable(stream, how, self._partition_field(stream.name),
                                       cdk_seam.saved_state(self, stream.name), cdk_seam.message_repository(self))
        return stream

    def _sync_mode_of(self, name: str) -> Optional[SyncMode]:
        for configured in (self._configured_catalog.streams if self._configured_catalog else []):
            if configured.stream.name == name:
                return configured.sync_mode
        return None

    def _install_subscriptions_cursor(self, stream: DefaultStream, config: Mapping[str, Any]) -> None:
        """The stream becomes incremental and resumable (subscriptions_cursor.py says why in Python), walking the
        manifest's own customers router."""
        field = str(self._partition_field(stream.name))
        activities = None
        if self._sync_mode_of(stream.name) != SyncMode.full_refresh:
            activities = subscriptions_cursor.ActivityCustomers(
                cdk_seam.build_activities_from_parent_state(self, config, stream.name, field))
        cursor = subscriptions_cursor.CustomerSubscriptionsCursor(
            stream_name=stream.name, partition_field=field, customers=cdk_seam.partition_router(stream),
            activities=activities, state=cdk_seam.saved_state(self, stream.name),
            reread_days=int(config.get("subscriptions_reread_days") or subscriptions_cursor.DEFAULT_REREAD_DAYS),
            start_date=config.get("start_date", ""), lookback_days=int(config.get("lookback_window_days", 30)),
            message_repository=cdk_seam.message_repository(self),
        )
        cdk_seam.install_cursor(stream, cursor, field)

    # ------------------------------------------------------------------ check
    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        """The CDK's check, its failure written as the message itself: the CDK writes repr() of it, in quotes
        ("'Stream account is not available: ...'")."""
        status = super().check(logger, config)
        if status.message:
            try:
                message = ast.literal_eval(status.message)
            except (ValueError, SyntaxError):
                message = None
            if isinstance(message, str):
                return dataclasses.replace(status, message=message)
        return status

    # ------------------------------------------------------------------ what a read is given
    def catalog_problem(self, catalog: Any) -> Optional[str]:
        """The first stream of a configured catalog this connector cannot read as asked, as one line; None if all can.

        The CDK skips an unknown stream without a word (the sync "succeeds" with nothing), and reads a stream listed
        twice twice. Incremental asked of a
        full-refresh-only stream is left to the CDK, which reads the stream whole: PyAirbyte asks every stream for
        incremental and relies on that."""
        seen = set()
        for entry in (catalog or {}).get("streams", []) if isinstance(catalog, Mapping) else []:
            name = (entry.get("stream") or {}).get("name")
            if name not in self._declared:
                return (f"Unknown stream {name!r} in the catalog: remove it or run discover for the stream names"
                        f" ({', '.join(sorted(self._declared))}).")
            if name in seen:  # the CDK reads it once per entry: every record twice
                return f"Stream {name!r} is listed twice in the catalog: keep one entry for it, with the sync mode wanted."
            seen.add(name)
        return None

    @classmethod
    def read_state(cls, state_path: str) -> List[AirbyteStateMessage]:
        """The saved state, as the CDK reads it (a list of state messages), or in the older shapes it refuses: one
        message not in a list, or an object of stream states keyed by stream name (the legacy per-connector state),
        read as one stream state message each."""
        state = json.loads(Path(state_path).read_text()) if state_path else []
        if isinstance(state, Mapping):
            state = [state] if "type" in state else [
                {"type": "STREAM", "stream": {"stream_descriptor": {"name": name}, "stream_state": stream_state}}
                for name, stream_state in state.items()]
        if not isinstance(state, list):
            raise UnusableState(f"The saved state is {state!r}, not a list of state messages: reset the connection's"
                                " streams to read them again from start_date.")
        for message in state:
            stream = (message.get("stream") or {}) if isinstance(message, Mapping) else {}
            if not isinstance(stream.get("stream_state", {}), Mapping):
                name = (stream.get("stream_descriptor") or {}).get("name")
                raise UnusableState(f"The saved state of {name} is {stream['stream_state']!r}, not an object: reset"
                                    f" the {name} stream to read it again.")
        return [AirbyteStateMessageSerializer.load(message) for message in state]

    @classmethod
    def readable_state(cls, state: List[AirbyteStateMessage]) -> List[AirbyteStateMessage]:
        """`state` with each saved cursor date in the one format the CDK's cursor parses back: what the activities
        cursor writes. Another ISO 8601 form with a UTC offset (+00:00 as records carry it, +02:00, a fraction of a
        second) is the same instant written otherwise; the CDK failed on a fraction ("Something went wrong")."""
        readable = []
        for message in state:
            dumped = AirbyteStateMessageSerializer.dump(message)
            stream = dumped.get("stream") or {}
            name, stream_state = stream.get("stream_descriptor", {}).get("name"), stream.get("stream_state")
            *path, key = cls._date_path(name) or [None]
            for step in path:
                stream_state = stream_state.get(step) if isinstance(stream_state, Mapping) else None
            if key and isinstance(stream_state, MutableMapping) and key in stream_state:
                stream_state[key] = subscriptions_cursor.state_date(stream_state[key])
            readable.append(AirbyteStateMessageSerializer.load(dumped))
        return readable

    @classmethod
    def _date_path(cls, name: Any) -> Optional[List[str]]:
        """Where the saved state of stream `name` holds an activities cursor date, if it does."""
        if cls._parameter(name, "incremental") == CUSTOMERS_OF_NEW_ACTIVITIES:
            return ["parent_state", "activities", str(cls._cursor_field("activities"))]
        return [str(cls._cursor_field(name))] if cls._cursor_field(name) else None

    def state_problem(self, state: Any) -> Optional[str]:
        """The first unusable stream state, as one line; None if the state can be resumed from.

        The CDK fails on a malformed cursor with "Something went wrong in the connector", and silently reads nothing
        from a cursor in the future; both are refused here. A dated state without its cursor field (another shape)
        reads from start_date: nothing is skipped."""
        for message in state if isinstance(state, list) else []:
            stream = (message or {}).get("stream") or {}
            name = stream.get("stream_descriptor", {}).get("name")
            found = self._problem_and_fix(name, stream.get("stream_state"))
            if found:
                problem, fix = found
                joint = "; " if problem.endswith(subscriptions_cursor.FUTURE) else ": "  # the future's has a colon
                return f"The saved state of {name} {problem}{joint}reset the {name} stream to {fix}."
        return None

    def _problem_and_fix(self, name: Any, stream_state: Any) -> Optional[tuple[str, str]]:
        """What makes the saved state of stream `name` unusable ("has ..."), and what a reset of the stream reads."""
        problem, fix = None, ""
        if self._parameter(name, "incremental") == CUSTOMERS_OF_NEW_ACTIVITIES:
            problem = subscriptions_cursor.state_problem(stream_state) if stream_state else None
            fix = "read every customer again"
        elif self._parameter(name, "resumable"):
            how = str(self._parameter(name, "resumable"))
            problem, fix = resumable.state_problem(how, self._partition_field(name), stream_state or {}), "read it whole"
        elif self._cursor_field(name):
            field = str(self._cursor_field(name))
            has_date = isinstance(stream_state, Mapping) and field in stream_state
            problem = subscriptions_cursor.dated_problem(field, stream_state[field]) if has_date else None
            fix = "read it again from start_date"
        return (problem, fix) if problem else None
