"""Console entry point: `source-chartmogul spec | check | discover | read`."""

from __future__ import annotations

import argparse
import base64
import functools
import json
import logging
import signal
import sys
import threading
import traceback
from pathlib import Path
from typing import Any, List, Mapping, NoReturn, Optional
from urllib.parse import quote, quote_plus

import orjson
from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.logger import PRINT_BUFFER
from airbyte_cdk.models import (
    AirbyteErrorTraceMessage,
    AirbyteLogMessage,
    AirbyteMessage,
    AirbyteMessageSerializer,
    AirbyteStateMessageSerializer,
    AirbyteTraceMessage,
    ConnectorSpecification,
    FailureType,
    Level,
    TraceType,
    Type,
)
from airbyte_cdk.utils.airbyte_secrets_utils import add_to_secrets, get_secrets
from airbyte_cdk.utils.datetime_helpers import ab_datetime_now
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_chartmogul import cdk_seam, fail_fast, speed, stop_signals
from source_chartmogul.config_check import config_problem
from source_chartmogul.source import SourceChartmogul, UnusableState, written_manifest


def _forms_of_a_secret(secret: str) -> List[str]:
    """How a secret of the config can travel besides as itself: the Basic credentials the authenticator derives from
    it (the header first, so that it is masked whole), base64 of `key:` as sent and of `key:key`, without padding so
    that a cut copy is caught too, URL-encoded, and JSON-escaped (the CDK masks log extras after json.dumps)."""
    forms = [f"Basic {base64.b64encode(f'{secret}:'.encode()).decode()}"]
    forms += [base64.b64encode(credentials.encode()).decode().rstrip("=") for credentials in (f"{secret}:", f"{secret}:{secret}")]
    forms += [quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]]
    return [form for form in dict.fromkeys(forms) if form != secret]


class ChartmogulEntrypoint(AirbyteEntrypoint):
    """The CDK's entrypoint, with config errors worded as one line that names the setting and the fix, and the
    forms the key travels in masked as the key itself is.

    The CDK checks the config against the spec before check, discover and read, but reports raw jsonschema
    text ("'2017-01' does not match '^[0-9]{4}-...'"). The rules stay in the manifest's spec.
    """

    @staticmethod
    def set_up_secret_filter(config: Mapping[str, Any], connection_specification: Mapping[str, Any]) -> None:
        """The CDK masks the config's `airbyte_secret` values in every log, trace and error it formats, but not the
        credentials its authenticator derives from them: under --debug, "Making outbound API request" logged every
        request's `Authorization: Basic <base64 of "key:">`, which decodes to the key. This hook of the entrypoint runs
        for check, discover and read, right after the CDK registers the raw values (update_secrets replaces the list,
        so adding earlier, e.g. in the source's constructor, would be undone); and rather than in a custom
        authenticator, it covers every secret of the spec in one place, with the manifest's authenticator unchanged.
        The manifest alone (Connector Builder, source-declarative-manifest) does not come through here: see
        docs/reliability.md."""
        AirbyteEntrypoint.set_up_secret_filter(config, connection_specification)
        for secret in get_secrets(connection_specification, config):
            if isinstance(secret, str) and secret:
                for form in _forms_of_a_secret(secret):
                    add_to_secrets(form)

    @staticmethod
    def validate_connection(source_spec: ConnectorSpecification, config: Mapping[str, Any]) -> None:
        problem = config_problem(config, source_spec.connectionSpecification)
        if problem:
            raise AirbyteTracedException(message=problem, internal_message=problem, failure_type=FailureType.config_error)


def _source_for(parsed: argparse.Namespace) -> tuple[SourceChartmogul, Optional[str]]:
    """The source built with the command's config, catalog and state (the CDK reads them from the constructor), and
    what is wrong with the config, as one line (None if nothing). A state of a shape no stream can resume from raises
    UnusableState."""
    config_path = getattr(parsed, "config", None)
    catalog_path = getattr(parsed, "catalog", None)
    state_path = getattr(parsed, "state", None)
    config = SourceChartmogul.read_config(config_path) if config_path else None
    problem = config_problem(config, _manifest()["spec"]["connection_specification"]) if config is not None else None
    source = SourceChartmogul(
        catalog=SourceChartmogul.read_catalog(catalog_path) if catalog_path else None,
        config=None if problem else config,  # never build streams from a bad config
        state=SourceChartmogul.read_state(state_path) if state_path else None,
        config_path=config_path,
    )
    return source, problem


def _read_problem(parsed: argparse.Namespace, source: SourceChartmogul) -> Optional[str]:
    """What in a read's catalog or state this connector cannot honour, as one line; None if nothing."""
    if parsed.command != "read":
        return None
    problem = source.catalog_problem(json.loads(Path(parsed.catalog).read_text()))
    if not problem and getattr(parsed, "state", None):
        state = source.readable_state(SourceChartmogul.read_state(parsed.state))  # as the source was given it
        problem = source.state_problem([AirbyteStateMessageSerializer.dump(message) for message in state])
    return problem


@functools.lru_cache(maxsize=1)
def _manifest() -> Mapping[str, Any]:
    """The manifest as written (its stream names and spec), read once per command."""
    return written_manifest()


def _fail(message: str, internal_message: Optional[str] = None, stack_trace: Optional[str] = None) -> NoReturn:
    """Stop before the sync starts, with one protocol TRACE message (a config error: the input needs fixing)."""
    trace = AirbyteTraceMessage(
        type=TraceType.ERROR,
        emitted_at=ab_datetime_now().to_epoch_millis(),
        error=AirbyteErrorTraceMessage(
            message=message,
            internal_message=internal_message or message,
            stack_trace=stack_trace,
            failure_type=FailureType.config_error,
        ),
    )
    print(orjson.dumps(AirbyteMessageSerializer.dump(AirbyteMessage(type=Type.TRACE, trace=trace))).decode())
    sys.exit(1)


def _stop_on_signals_after_a_whole_message() -> None:
    """The platform cancels a sync with SIGTERM; a user at a terminal with Ctrl-C (SIGINT). Python's default is to die
    at once, and with a reader that lags (a destination's backpressure) that is in the middle of writing a batch of the
    print buffer: stdout ended on a torn line (test_interrupted_syncs); on SIGINT, after a KeyboardInterrupt traceback.
    A Python handler is no cure: it runs inside the interrupted write, and the batch was still cut short. So both are
    blocked in every thread (set before any is started, so all inherit it) and one thread waits for them: it takes the
    print buffer's lock, so any write in progress completes, and writes what is buffered (whole messages: each is
    written under that lock); then, still holding the lock so that nothing more is written,
    - on SIGTERM lets it end the process as it would have (exit status -15, which PyAirbyte expects when it stops a
      connector: 143 from an exit would fail its sync);
    - on SIGINT writes one LOG line saying so and exits 130, the shell's status for an interrupted command, with no
      traceback."""
    if not stop_signals.block():
        return

    def wait_then_flush_and_exit() -> None:
        received = signal.sigwait(stop_signals.STOP_SIGNALS)  # also one that came as the command started
        PRINT_BUFFER.lock.acquire()
        PRINT_BUFFER.flush()
        if received == signal.SIGINT:
            sys.__stdout__.write(_log_line("WARN", INTERRUPTED))  # type: ignore[union-attr]
            sys.__stdout__.flush()  # type: ignore[union-attr]
            cdk_seam.exit_at_once(130)  # stdout is flushed
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})  # its action is still Python's default: to end
        signal.pthread_kill(threading.get_ident(), signal.SIGTERM)

    threading.Thread(target=wait_then_flush_and_exit, name="stop_on_signals", daemon=True).start()


INTERRUPTED = ("Interrupted (SIGINT, Ctrl-C): stopped after the last whole message; a sync given the last STATE message"
               " emitted resumes from there.")


def _log_line(level: str, message: str) -> str:
    """One protocol LOG message, as a line of stdout."""
    log = AirbyteLogMessage(level=Level[level], message=message)
    return orjson.dumps(AirbyteMessageSerializer.dump(AirbyteMessage(type=Type.LOG, log=log))).decode() + "\n"


def run(args: Optional[List[str]] = None) -> None:
    args = sys.argv[1:] if args is None else args
    _stop_on_signals_after_a_whole_message()  # first: the threads started after it inherit SIGTERM blocked
    speed.on_command_start()
    parsed = AirbyteEntrypoint.parse_args(args)
    try:
        source, bad_config = _source_for(parsed)
        # check answers a bad config with a FAILED status (ChartmogulEntrypoint.validate_connection); discover and read
        # would raise it through the CDK's excepthook, a FATAL log with a traceback before the line: refused here.
        problem = (bad_config if parsed.command in ("discover", "read") else None) or _read_problem(parsed, source)
    except UnusableState as error:
        _fail(str(error))
    except Exception as error:  # an unreadable --config/--catalog/--state file
        _fail(f"Could not start: {error}", str(error), traceback.format_exc())
    if problem:
        _fail(problem)
    entrypoint = ChartmogulEntrypoint(source)
    speed.on_source_ready()
    errors = fail_fast.OneErrorPerStream()
    for handler in logging.getLogger("airbyte").handlers + logging.getLogger().handlers:
        handler.addFilter(errors)
    with PRINT_BUFFER:  # as airbyte_cdk.entrypoint.launch, with this entrypoint
        try:
            for message in entrypoint.run(parsed):
                if errors.keeps(message):
                    print(f"{message}\n", end="")
        except AirbyteTracedException as failure:
            summary = errors.summary(failure)
            if summary is None:
                raise
            summary.emit_message()
            sys.exit(1)
