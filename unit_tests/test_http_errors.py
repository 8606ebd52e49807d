"""How the shared requester treats ChartMogul's errors: a bad key, rate limits, server errors (HttpMocker)."""

from __future__ import annotations

import json
from unittest import mock

from airbyte_cdk.models import FailureType, SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import read
from airbyte_cdk.sources.streams.http import rate_limiting
from airbyte_cdk.test.mock_http import HttpMocker, HttpRequest, HttpResponse

from source_chartmogul import SourceChartmogul
from unit_tests.test_stream_requests import CONFIG, customer, page, request

# Only the retry backoff's waits are skipped (and recorded); the API budget keeps its real clock.
def retry_waits():
    return mock.patch.object(rate_limiting, "time")


def waits(fake_time: mock.MagicMock) -> list[float]:
    return [call.args[0] for call in fake_time.sleep.call_args_list]


UNAUTHORIZED = HttpResponse('{"code":401,"message":"No valid API key provided","param":null}', 401)
MAX_RETRIES = 5


def read_customers():
    catalog = CatalogBuilder().with_stream("customers", SyncMode.full_refresh).build()
    return read(SourceChartmogul(catalog=catalog, config=CONFIG), CONFIG, catalog)


def test_a_rejected_key_fails_the_read_as_a_config_error_naming_the_fix() -> None:
    with HttpMocker() as http:
        http.get(request("customers", per_page="200"), UNAUTHORIZED)
        output = read_customers()

    stream_errors = [e.trace.error for e in output.errors if e.trace.error.stream_descriptor]
    assert [(e.stream_descriptor.name, e.failure_type) for e in stream_errors] == [("customers", FailureType.config_error)]
    assert stream_errors[0].message == (
        "ChartMogul rejected the API key (HTTP 401). Check that api_key holds a current key, or create a read-only"
        " one in ChartMogul under Settings > Your Account > API Keys."
    )


def test_a_rejected_key_fails_check_with_the_same_message() -> None:
    with HttpMocker() as http:
        http.get(request("account"), UNAUTHORIZED)
        status = SourceChartmogul(config=CONFIG).check(mock.Mock(), CONFIG)

    assert status.status.name == "FAILED"
    assert status.message == (
        "Stream account is not available: ChartMogul rejected the API key (HTTP 401). Check that api_key holds a"
        " current key, or create a read-only one in ChartMogul under Settings > Your Account > API Keys."
    )


def test_a_429_then_a_200_delivers_each_record_once() -> None:
    with retry_waits() as fake_time, HttpMocker() as http:
        http.get(
            request("customers", per_page="200"),
            [HttpResponse('{"code":429,"message":"Your request rate has exceeded our rate limit.","param":null}', 429),
             page("entries", [customer(1), customer(2)], "c1", False)],
        )
        output = read_customers()

    assert [r.record.data["uuid"] for r in output.records] == ["cus_0001", "cus_0002"]
    assert not output.errors
    assert waits(fake_time) == [3.0]  # one backoff: 1*2^1 + the CDK's 1 s


def test_a_retry_after_header_is_honoured() -> None:
    with retry_waits() as fake_time, HttpMocker() as http:
        http.get(
            request("customers", per_page="200"),
            [HttpResponse('{"code":429}', 429, headers={"Retry-After": "7"}), page("entries", [customer(1)], "c1", False)],
        )
        output = read_customers()

    assert len(output.records) == 1
    assert waits(fake_time) == [8.0]  # 7 s + the CDK's 1 s


def test_a_retry_after_of_up_to_599_seconds_is_waited_out_and_the_stream_completes() -> None:
    first_page = request("customers", per_page="200")
    with retry_waits() as fake_time, HttpMocker() as http:
        http.get(first_page, [HttpResponse('{"code":429}', 429, headers={"Retry-After": "90"}),
                              HttpResponse('{"code":429}', 429, headers={"Retry-After": "599"}),
                              page("entries", [customer(1)], "c1", False)])
        output = read_customers()
        http.assert_number_of_calls(first_page, 3)

    assert [r.record.data["uuid"] for r in output.records] == ["cus_0001"]
    assert not output.errors
    assert waits(fake_time) == [91.0, 600.0]  # as asked + the CDK's 1 s


def test_a_retry_after_of_600_seconds_or_more_fails_the_stream_at_once_as_transient() -> None:
    first_page = request("customers", per_page="200")
    with retry_waits() as fake_time, HttpMocker() as http:
        http.get(first_page, HttpResponse('{"code":429}', 429, headers={"Retry-After": "600"}))
        output = read_customers()
        http.assert_number_of_calls(first_page, 1)

    assert output.records == [] and waits(fake_time) == []
    stream_errors = [e.trace.error for e in output.errors if e.trace.error.stream_descriptor]
    assert [(e.stream_descriptor.name, e.failure_type, e.message) for e in stream_errors] == [
        ("customers", FailureType.transient_error, "The rate limit wait time is longer than the connector is allowed to wait.")]
    assert "Rate limit wait time 600.0s is greater than or equal to the maximum of 600.0s" in stream_errors[0].internal_message


def test_a_500_that_never_recovers_fails_after_bounded_retries_naming_stream_and_cause() -> None:
    first_page = request("customers", per_page="200")
    with retry_waits() as fake_time, HttpMocker() as http:
        http.get(first_page, HttpResponse("500 Internal Server Error", 500))
        output = read_customers()
        http.assert_number_of_calls(first_page, MAX_RETRIES + 1)

    assert output.records == []
    assert waits(fake_time) == [3.0, 5.0, 9.0, 17.0, 33.0]  # bounded: 67 s in all
    stream_errors = [e.trace.error for e in output.errors if e.trace.error.stream_descriptor]
    assert [(e.stream_descriptor.name, e.failure_type) for e in stream_errors] == [("customers", FailureType.transient_error)]
    assert (
        "ChartMogul kept failing at https://api.chartmogul.com/v1/customers (HTTP 5xx) through 5 retries"
        in stream_errors[0].message
    )
