"""Console entry point: `source-chartmogul spec | check | discover | read`."""

from __future__ import annotations

import sys
import traceback
from typing import Any, List, Mapping, Optional

import orjson
import yaml
from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.models import (
    AirbyteErrorTraceMessage,
    AirbyteMessage,
    AirbyteMessageSerializer,
    AirbyteTraceMessage,
    ConnectorSpecification,
    FailureType,
    TraceType,
    Type,
)
from airbyte_cdk.utils.datetime_helpers import ab_datetime_now
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_chartmogul.config_check import config_problem
from source_chartmogul.source import MANIFEST_PATH, SourceChartmogul


class ChartmogulEntrypoint(AirbyteEntrypoint):
    """The CDK's entrypoint, with config errors worded as one line that names the setting and the fix.

    The CDK checks the config against the spec before check, discover and read, but reports raw jsonschema
    text ("'2017-01' does not match '^[0-9]{4}-...'"). The rules stay in the manifest's spec.
    """

    @staticmethod
    def validate_connection(source_spec: ConnectorSpecification, config: Mapping[str, Any]) -> None:
        problem = config_problem(config, source_spec.connectionSpecification)
        if problem:
            raise AirbyteTracedException(message=problem, internal_message=problem, failure_type=FailureType.config_error)


def _source_for(args: List[str]) -> SourceChartmogul:
    """The source built with the command's config, catalog and state (the CDK reads them from the constructor)."""
    parsed = AirbyteEntrypoint.parse_args(args)
    config_path = getattr(parsed, "config", None)
    catalog_path = getattr(parsed, "catalog", None)
    state_path = getattr(parsed, "state", None)
    config = SourceChartmogul.read_config(config_path) if config_path else None
    if config is not None and config_problem(config, _connection_specification()):
        config = None  # never build streams from a bad config; the entrypoint reports the problem
    return SourceChartmogul(
        catalog=SourceChartmogul.read_catalog(catalog_path) if catalog_path else None,
        config=config,
        state=SourceChartmogul.read_state(state_path) if state_path else None,
        config_path=config_path,
    )


def _connection_specification() -> Mapping[str, Any]:
    return yaml.safe_load(MANIFEST_PATH.read_text())["spec"]["connection_specification"]


def _print_start_failure(error: Exception) -> None:
    """An unreadable --config/--catalog/--state file, as one protocol TRACE message."""
    trace = AirbyteTraceMessage(
        type=TraceType.ERROR,
        emitted_at=ab_datetime_now().to_epoch_millis(),
        error=AirbyteErrorTraceMessage(
            message=f"Could not start: {error}",
            internal_message=str(error),
            stack_trace=traceback.format_exc(),
            failure_type=FailureType.config_error,
        ),
    )
    print(orjson.dumps(AirbyteMessageSerializer.dump(AirbyteMessage(type=Type.TRACE, trace=trace))).decode())


def run(args: Optional[List[str]] = None) -> None:
    args = sys.argv[1:] if args is None else args
    try:
        source = _source_for(args)
    except Exception as error:
        _print_start_failure(error)
        sys.exit(1)
    entrypoint = ChartmogulEntrypoint(source)
    # As airbyte_cdk.entrypoint.launch: one print per message, newline included, so threads never interleave.
    for message in entrypoint.run(entrypoint.parse_args(args)):
        print(f"{message}\n", end="")
