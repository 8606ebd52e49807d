"""What a failed sync shows (fail_fast.OneErrorPerStream): the first error trace of each stream, none for a
consequence of an earlier error, and a closing summary typed as its causes; a request that got no answer is transient."""

from __future__ import annotations

import json
from typing import Optional

import pytest
import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http.exceptions import DefaultBackoffException
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_chartmogul.fail_fast import CONSEQUENCE, SUMMARY_START, OneErrorPerStream, unanswered

CDK_SUMMARY = AirbyteTracedException(message=f"{SUMMARY_START}: customers: AirbyteTracedException(...)",
                                     failure_type=FailureType.config_error)


def trace(stream: Optional[str], message: str, failure_type: str, internal: str = "") -> str:
    error = {"message": message, "internal_message": internal, "failure_type": failure_type,
             **({"stream_descriptor": {"name": stream}} if stream else {})}
    return json.dumps({"type": "TRACE", "trace": {"type": "ERROR", "emitted_at": 1.0, "error": error}}, separators=(",", ":"))  # as the CDK writes it


def test_the_first_error_of_each_stream_is_shown_and_its_repeats_and_consequences_are_not() -> None:
    errors = OneErrorPerStream()
    shown = [errors.keeps(line) for line in (
        '{"type":"RECORD","record":{"stream":"plans","data":{},"emitted_at":1}}',
        trace("customer_subscriptions", "ChartMogul kept failing at .../cus_1/subscriptions", "transient_error"),
        trace("customer_subscriptions", "ChartMogul kept failing at .../cus_2/subscriptions", "transient_error"),
        trace("customer_subscriptions", "not asked", "transient_error", CONSEQUENCE),
        trace("activities", "refused earlier", "config_error", CONSEQUENCE),
    )]
    assert shown == [True, True, False, False, False]


@pytest.mark.parametrize("causes,failure_type", [
    ([("customer_subscriptions", "5xx", "transient_error"), ("activities", "timeouts", "transient_error")], "transient_error"),
    ([("customers", "401", "config_error"), ("activities", "5xx", "transient_error")], "config_error"),
    ([("customers", "a bug", "system_error"), ("activities", "5xx", "transient_error")], "system_error"),
])
def test_the_closing_summary_is_typed_as_its_causes(causes: list[tuple[str, str, str]], failure_type: str) -> None:
    errors = OneErrorPerStream()
    for stream, message, cause_type in causes:
        errors.keeps(trace(stream, message, cause_type))
    summary = errors.summary(CDK_SUMMARY)
    assert summary is not None and summary.failure_type == FailureType(failure_type)
    streams = ", ".join(stream for stream, _, _ in causes)
    assert summary.message == f"{SUMMARY_START}: {streams}. {' '.join(message for _, message, _ in causes)}"


def test_the_same_cause_in_several_streams_is_shown_once_and_named_once_in_the_summary() -> None:
    errors = OneErrorPerStream()
    assert [errors.keeps(trace(stream, "ChartMogul rejected the API key (HTTP 401).", "config_error"))
            for stream in ("customers", "invoices")] == [True, False]
    summary = errors.summary(CDK_SUMMARY)
    assert summary is not None
    assert summary.message == f"{SUMMARY_START}: customers, invoices. ChartMogul rejected the API key (HTTP 401)."


def test_a_consequence_that_comes_before_its_cause_does_not_hide_it() -> None:
    errors = OneErrorPerStream()
    assert [errors.keeps(trace("activities", "refused earlier", "config_error", CONSEQUENCE)),
            errors.keeps(trace("activities", "ChartMogul rejected the API key (HTTP 401).", "config_error"))] == [False, True]


def test_an_error_that_is_not_the_cdks_summary_is_left_alone() -> None:
    errors = OneErrorPerStream()
    errors.keeps(trace("customers", "5xx", "transient_error"))
    assert errors.summary(AirbyteTracedException(message="Something else", failure_type=FailureType.system_error)) is None


@pytest.mark.parametrize("no_answer", [
    requests.ConnectionError("('Connection aborted.', ConnectionResetError(104, 'Connection reset by peer'))"),
    requests.ReadTimeout("HTTPConnectionPool(host='api.chartmogul.com', port=443): Read timed out. (read timeout=30)"),
])
def test_a_request_that_got_no_answer_through_its_retries_is_transient_and_names_the_url_and_base_url(
    no_answer: requests.RequestException,
) -> None:
    request = requests.Request("GET", "https://api.chartmogul.com/v1/plans?per_page=200&cursor=abc").prepare()
    exhausted = DefaultBackoffException(request=request, response=no_answer,
                                        error_message=f"{type(no_answer).__name__}: {no_answer}")
    try:  # as the CDK's HttpClient raises it
        raise exhausted
    except DefaultBackoffException:
        try:
            raise AirbyteTracedException(message="Exhausted available request attempts.", failure_type=FailureType.system_error)
        except AirbyteTracedException as cdk_error:
            error = unanswered(cdk_error, "plans")

    assert error is not None and error.failure_type == FailureType.transient_error
    assert error.message == (f"ChartMogul did not answer at https://api.chartmogul.com/v1/plans through its retries"
                             f" ({type(no_answer).__name__}: {no_answer}). Retry the sync later; if it persists, check"
                             " base_url (ChartMogul's is https://api.chartmogul.com) and the network.")
    assert error.as_airbyte_message().trace.error.stream_descriptor.name == "plans"


def test_an_error_with_an_answer_is_left_to_the_manifests_message() -> None:
    request = requests.Request("GET", "https://api.chartmogul.com/v1/plans").prepare()
    response = requests.Response()
    response.status_code = 500
    try:
        raise DefaultBackoffException(request=request, response=response, error_message="ChartMogul kept failing")
    except DefaultBackoffException:
        try:
            raise AirbyteTracedException(message="Exhausted available request attempts.", failure_type=FailureType.transient_error)
        except AirbyteTracedException as cdk_error:
            assert unanswered(cdk_error, "plans") is None
