"""Bad settings and bad catalogs through the real CLI: one line that names the field and the fix, before any request.

The base_url points at a closed port, so a bad input that slipped through would show as a connection error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from integration_tests.connector_cli import STREAMS, configured, run_connector
from integration_tests.reliability import assert_key_hidden

SECRET_KEY = "sk_live_BadInput+4c81/e07a6d2f"
GOOD = {"api_key": SECRET_KEY, "start_date": "2021-01-01T00:00:00Z", "base_url": "http://127.0.0.1:9"}
KEY_HELP = "A ChartMogul API key (read-only is enough). Create one in ChartMogul under Settings > Your Account > API Keys."
DATE_FIX = "use yyyy-mm-ddThh:mm:ssZ (for example 2017-01-25T06:30:00Z)."
KEY_FIX = "a ChartMogul API key holds none, so copy it again without them (a copy-paste often adds a line break or a space)."
BASE_URL_FIX = "give the scheme and host only, for example https://api.chartmogul.com (the connector adds /v1/ itself)."
BAD_SETTINGS = {
    "missing key": ({k: v for k, v in GOOD.items() if k != "api_key"}, f"Missing setting api_key: {KEY_HELP}"),
    "empty key": ({**GOOD, "api_key": ""}, f"api_key is empty: {KEY_HELP}"),
    "key of the wrong type": ({**GOOD, "api_key": 12345}, "api_key must be a string, not a number."),
    "missing start_date": ({k: v for k, v in GOOD.items() if k != "start_date"}, "Missing setting start_date: UTC date-time from which to read activities and metrics, as yyyy-mm-ddThh:mm:ssZ. Customers and the other lists cannot be filtered by date in the ChartMogul API and are always read whole."),
    "date without time": ({**GOOD, "start_date": "2021-01-01"}, f"start_date '2021-01-01' is not valid: {DATE_FIX}"),
    "milliseconds": ({**GOOD, "start_date": "2021-01-01T00:00:00.000Z"}, f"start_date '2021-01-01T00:00:00.000Z' is not valid: {DATE_FIX}"),
    "offset instead of Z": ({**GOOD, "start_date": "2021-01-01T00:00:00+00:00"}, f"start_date '2021-01-01T00:00:00+00:00' is not valid: {DATE_FIX}"),
    "US date": ({**GOOD, "start_date": "01/02/2021"}, f"start_date '01/02/2021' is not valid: {DATE_FIX}"),
    "13th month": ({**GOOD, "start_date": "2021-13-01T00:00:00Z"}, f"start_date '2021-13-01T00:00:00Z' is not a real date and time: {DATE_FIX}"),
    "31 February": ({**GOOD, "end_date": "2021-02-31T00:00:00Z"}, f"end_date '2021-02-31T00:00:00Z' is not a real date and time: {DATE_FIX}"),
    "end before start": ({**GOOD, "end_date": "2020-01-01T00:00:00Z"}, "end_date 2020-01-01T00:00:00Z is before start_date 2021-01-01T00:00:00Z: set end_date after start_date, or leave it out to read up to now."),
    "unknown interval": ({**GOOD, "interval": "fortnight"}, "interval 'fortnight' is not one of day, week, month, quarter, year: pick one of those."),
    "remote http base_url": ({**GOOD, "base_url": "http://api.chartmogul.com"}, "base_url 'http://api.chartmogul.com' is not valid: use https://..., or http:// only to localhost, 127.0.0.1 or [::1], so the key never crosses a network in clear text (for example https://api.chartmogul.com)."),
    "key with a trailing line break": ({**GOOD, "api_key": SECRET_KEY + "\n"}, f"api_key has a space, tab or line break at its end: {KEY_FIX}"),
    "key with a trailing CRLF": ({**GOOD, "api_key": SECRET_KEY + "\r\n"}, f"api_key has a space, tab or line break at its end: {KEY_FIX}"),
    "key with trailing spaces": ({**GOOD, "api_key": SECRET_KEY + "  "}, f"api_key has a space, tab or line break at its end: {KEY_FIX}"),
    "key after a tab": ({**GOOD, "api_key": "\t" + SECRET_KEY}, f"api_key has a space, tab or line break at its start: {KEY_FIX}"),
    "key between spaces": ({**GOOD, "api_key": f" {SECRET_KEY} "}, f"api_key has a space, tab or line break at its start and end: {KEY_FIX}"),
    "key cut by a space": ({**GOOD, "api_key": SECRET_KEY[:8] + " " + SECRET_KEY[8:]}, f"api_key has a space, tab or line break inside it: {KEY_FIX}"),
    "key of spaces": ({**GOOD, "api_key": "   "}, f"api_key is blank (only spaces, tabs or line breaks): {KEY_HELP}"),
    "key of a line break": ({**GOOD, "api_key": "\n"}, f"api_key is blank (only spaces, tabs or line breaks): {KEY_HELP}"),
    "base_url ending in /v1": ({**GOOD, "base_url": "https://api.chartmogul.com/v1"}, f"base_url 'https://api.chartmogul.com/v1' has a path: {BASE_URL_FIX}"),
    "base_url ending in /v1/": ({**GOOD, "base_url": "https://api.chartmogul.com/v1/"}, f"base_url 'https://api.chartmogul.com/v1/' has a path: {BASE_URL_FIX}"),
    "base_url with another path": ({**GOOD, "base_url": "https://api.chartmogul.com/api"}, f"base_url 'https://api.chartmogul.com/api' has a path: {BASE_URL_FIX}"),
    "local base_url with a path": ({**GOOD, "base_url": "http://127.0.0.1:9/v1"}, "base_url 'http://127.0.0.1:9/v1' has a path: give the scheme and host only, for example http://127.0.0.1:9 (the connector adds /v1/ itself)."),
    "base_url with a query": ({**GOOD, "base_url": "https://api.chartmogul.com?version=1"}, f"base_url 'https://api.chartmogul.com?version=1' has a query: {BASE_URL_FIX}"),
    "base_url with a line break": ({**GOOD, "base_url": "http://127.0.0.1:9\n"}, "base_url 'http://127.0.0.1:9\\n' is not valid: use https://..., or http:// only to localhost, 127.0.0.1 or [::1], so the key never crosses a network in clear text (for example https://api.chartmogul.com)."),
    "start_date in the future": ({**GOOD, "start_date": "2099-01-01T00:00:00Z"}, "start_date 2099-01-01T00:00:00Z is in the future: activities and metrics would read nothing; set start_date to a past date-time (for example 2017-01-25T06:30:00Z)."),
    "start_date in the future, end_date later": ({**GOOD, "start_date": "2099-01-01T00:00:00Z", "end_date": "2099-12-31T00:00:00Z"}, "start_date 2099-01-01T00:00:00Z is in the future: activities and metrics would read nothing; set start_date to a past date-time (for example 2017-01-25T06:30:00Z)."),
    "number as text": ({**GOOD, "concurrency_level": "ten"}, "concurrency_level must be a number, not a string."),
    "re-read days of zero": ({**GOOD, "subscriptions_reread_days": 0}, "subscriptions_reread_days 0 is out of range: use a whole number from 1 to 365."),
    "re-read days not whole": ({**GOOD, "subscriptions_reread_days": 2.5}, "subscriptions_reread_days must be a whole number, not 2.5."),
    "unknown field": ({**GOOD, "page_size": 50}, "Unknown setting 'page_size': remove it or correct its name (the settings are api_key, base_url, concurrency_level, end_date, include_disabled_and_invalid, interval, lookback_window_days, max_requests_per_second, metrics_by_plan, metrics_filters, metrics_geo, metrics_plans, metrics_segments, start_date, subscriptions_reread_days)."),
    "segments: one line per mistake": ({**GOOD, "metrics_segments": [
        {"name": "EU", "geo": "DE,FR"}, {"name": "Empty"}, {"geo": "US"}, {"name": "EU", "geo": "US,USA"}, {"name": "Y", "region": "x", "plans": "a"}]},
        "metrics_segments segment 2 ('Empty') is empty: give it filters, geo or plans, or remove it (the whole account is what customer_count, key_metrics and mrr_metrics read).\n"
        "metrics_segments segment 3 has no name: give each segment a name, unique among the segments.\n"
        "metrics_segments segment 4 ('EU') geo 'US,USA' lists 'USA', which is not a two-letter ISO 3166-1 country code: use two-letter ISO 3166-1 country codes separated by commas (for example US,GB,DE), or leave it out for every country.\n"
        "metrics_segments segment 5 ('Y') has 'region': a segment has only name, filters, geo and plans.\n"
        "metrics_segments segments 1 and 4 are named 'EU': give each segment a name of its own."),
    "segments: a duplicate name": ({**GOOD, "metrics_segments": [{"name": "EU", "geo": "DE"}, {"name": "US", "geo": "US"}, {"name": "EU", "plans": "Gold"}]},
        "metrics_segments segments 1 and 3 are named 'EU': give each segment a name of its own."),
    "segments: not a list": ({**GOOD, "metrics_segments": {"name": "EU", "geo": "DE"}}, "metrics_segments must be a list, not an object."),
    "metrics_by_plan not a boolean": ({**GOOD, "metrics_by_plan": "yes"}, "metrics_by_plan must be a boolean, not a string."),
    "geo with an empty item": ({**GOOD, "metrics_geo": "US,,DE"}, "metrics_geo 'US,,DE' has an empty item: use two-letter ISO 3166-1 country codes separated by commas (for example US,GB,DE), or leave it out for every country."),
    "geo not two letters": ({**GOOD, "metrics_geo": "US,USA"}, "metrics_geo 'US,USA' lists 'USA', which is not a two-letter ISO 3166-1 country code: use two-letter ISO 3166-1 country codes separated by commas (for example US,GB,DE), or leave it out for every country."),
    "plans with an empty item": ({**GOOD, "metrics_plans": "Gold monthly, ,Silver"}, "metrics_plans 'Gold monthly, ,Silver' has an empty item: use plan names or uuids separated by commas (for example Gold monthly,pl_de9e281e-76cb-11ee-b63f-b727630ce4d4), or leave it out for every plan."),
    "blank filter": ({**GOOD, "metrics_filters": "  "}, "metrics_filters '  ' is not valid: use one line of ChartMogul Filter Language (for example currency~ANY~'USD')."),
    "filter over two lines": ({**GOOD, "metrics_filters": "currency~ANY~'USD'\nAND country~ANY~'US'"}, "metrics_filters \"currency~ANY~'USD'\\nAND country~ANY~'US'\" is not valid: use one line of ChartMogul Filter Language (for example currency~ANY~'USD')."),
    "flag as text": ({**GOOD, "include_disabled_and_invalid": "no"}, "include_disabled_and_invalid must be a boolean, not a string."),
}
CUSTOMERS = STREAMS[0]
ACTIVITIES = next(entry for entry in STREAMS if entry["stream"]["name"] == "activities")
BAD_CATALOGS = {
    "unknown stream": ([{**CUSTOMERS, "stream": {**CUSTOMERS["stream"], "name": "customerz"}}], "Unknown stream 'customerz' in the catalog: remove it or run discover for the stream names (account, activities, contacts, customer_count, customer_notes, customer_subscriptions, customers, data_sources, invoices, key_metrics, mrr_metrics, opportunities, plan_group_plans, plan_groups, plans, segment_customer_count, segment_key_metrics, segment_mrr_metrics, subscription_events, tasks)."),
    "stream listed twice": ([CUSTOMERS, CUSTOMERS], "Stream 'customers' is listed twice in the catalog: keep one entry for it, with the sync mode wanted."),
    "stream listed twice, in two sync modes": (
        [configured(ACTIVITIES, "full_refresh"), CUSTOMERS, configured(ACTIVITIES, "incremental")],
        "Stream 'activities' is listed twice in the catalog: keep one entry for it, with the sync mode wanted."),
}


def cli(tmp_path: Path, command: str, config: Any = GOOD, catalog: Any = None, debug: bool = False) -> tuple[int, list[dict[str, Any]]]:
    run = run_connector(command, tmp_path, config, catalog=catalog, timeout=60, debug=debug)
    assert_key_hidden(run.stdout + run.stderr, SECRET_KEY)
    return run.returncode, run.messages


@pytest.mark.parametrize("config,message", BAD_SETTINGS.values(), ids=BAD_SETTINGS.keys())
def test_check_names_the_bad_setting_and_the_fix(config: Any, message: str, tmp_path: Path) -> None:
    """Under --debug (read below runs at the default level): the message is the same, the key still hidden."""
    _, messages = cli(tmp_path, "check", config=config, debug=True)
    assert [m["connectionStatus"] for m in messages if m["type"] == "CONNECTION_STATUS"] == [{"status": "FAILED", "message": message}]


@pytest.mark.parametrize("command", ["read", "discover"])
@pytest.mark.parametrize("config,message", BAD_SETTINGS.values(), ids=BAD_SETTINGS.keys())
def test_read_and_discover_fail_on_the_bad_setting_before_any_request_with_one_line_and_no_traceback(
        command: str, config: Any, message: str, tmp_path: Path) -> None:
    run = run_connector(command, tmp_path, config, catalog={"streams": [CUSTOMERS]}, timeout=60)
    assert_key_hidden(run.stdout + run.stderr, SECRET_KEY)
    assert run.returncode == 1
    # The one message, whole: no FATAL log, no stack trace (the CDK's excepthook printed both before).
    assert [m for m in run.messages if m["type"] != "LOG" or m["log"]["level"] != "INFO"] == [{"type": "TRACE", "trace": {
        "type": "ERROR", "emitted_at": run.messages[-1]["trace"]["emitted_at"],
        "error": {"message": message, "internal_message": message, "failure_type": "config_error"}}}]
    assert "Traceback" not in run.stdout + run.stderr


@pytest.mark.parametrize("entries,message", BAD_CATALOGS.values(), ids=BAD_CATALOGS.keys())
def test_read_refuses_a_catalog_it_cannot_honour(entries: Any, message: str, tmp_path: Path) -> None:
    returncode, messages = cli(tmp_path, "read", catalog={"streams": entries})
    assert returncode == 1
    assert [(m["trace"]["error"]["message"], m["trace"]["error"]["failure_type"]) for m in messages if m["type"] == "TRACE"] == [(message, "config_error")]


def test_incremental_asked_of_a_full_refresh_stream_reads_it_whole(chartmogul_emulator_factory: Any, tmp_path: Path) -> None:
    """Documented safe behaviour, not an error: PyAirbyte asks every stream for incremental."""
    emulator = chartmogul_emulator_factory(seed=31, customers=250, activities=100, api_key=SECRET_KEY)
    entry = {**CUSTOMERS, "sync_mode": "incremental", "cursor_field": ["updated_at"]}
    returncode, messages = cli(tmp_path, "read", config={**GOOD, "base_url": emulator.url}, catalog={"streams": [entry]}, debug=True)
    assert returncode == 0
    records = [m["record"]["data"]["uuid"] for m in messages if m["type"] == "RECORD"]
    assert sorted(records) == sorted(c["uuid"] for c in emulator.truth("/v1/customers"))
