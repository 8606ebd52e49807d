"""The speed layer (source_chartmogul/speed/): each faster equivalent keeps exactly what the manifest rule it replaces
keeps, it is swapped in only where the manifest holds that rule, and SOURCE_CHARTMOGUL_SPEED switches it off whole or
piece by piece. (The whole suite also passes with the layer off: `SOURCE_CHARTMOGUL_SPEED=off make test`.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
from airbyte_cdk.sources.declarative.decoders.json_decoder import JsonDecoder
from airbyte_cdk.sources.declarative.extractors.dpath_extractor import DpathExtractor
from airbyte_cdk.sources.declarative.extractors.record_filter import RecordFilter
from airbyte_cdk.sources.types import StreamSlice

from source_chartmogul import speed
from source_chartmogul.source import installed_manifest, written_manifest
from source_chartmogul.speed.components import (
    ActivityWindowFilter,
    OncePerResponseJsonDecoder,
    TopLevelKeyExtractor,
    json_body_or_empty,
)
from unit_tests.recorded_bodies import recorded_text

WINDOW = StreamSlice(partition={}, cursor_slice={"start_time": "2024-01-15T06:30:00Z", "end_time": "2024-02-15T06:29:59Z"})
DATES = [
    "2024-01-15T06:29:59+00:00", "2024-01-15T06:30:00+00:00", "2024-01-20T00:00:00+00:00",
    "2024-02-15T06:29:59+00:00", "2024-02-15T06:30:00+00:00", "2023-12-31T23:59:59+00:00", "2025-01-15T06:30:00+00:00",
]
SPEED = "source_chartmogul.speed.components"
ROOT = Path(__file__).resolve().parents[1]
CONFIG = {"api_key": "sk_startup_test_0000", "start_date": "2021-01-01T00:00:00Z", "base_url": "http://127.0.0.1:9"}


def activities_record_filter(manifest: dict) -> dict:
    return manifest["definitions"]["streams"]["activities"]["retriever"]["record_selector"]["record_filter"]


def manifest_condition() -> str:
    return activities_record_filter(written_manifest())["condition"]


def response_with(body: bytes) -> requests.Response:
    response = requests.Response()
    response.status_code, response._content = 200, body
    return response


def test_the_python_window_filter_keeps_what_the_manifests_jinja_filter_keeps() -> None:
    records = [{"uuid": str(n), "date": date} for n, date in enumerate(DATES)]
    jinja = RecordFilter(config={}, parameters={}, condition=manifest_condition())
    python = ActivityWindowFilter(config={}, parameters={}, condition=manifest_condition())
    assert manifest_condition() == ActivityWindowFilter.REPLACES

    kept = list(python.filter_records(records, stream_state={}, stream_slice=WINDOW))
    assert kept == list(jinja.filter_records(records, stream_state={}, stream_slice=WINDOW))
    assert [r["date"] for r in kept] == ["2024-01-15T06:30:00+00:00", "2024-01-20T00:00:00+00:00", "2024-02-15T06:29:59+00:00"]


@pytest.mark.parametrize("body", [
    recorded_text("activities__1").encode(),   # a list page: records under `entries`
    recorded_text("metrics_all__1").encode(),  # a metric series: `entries` too
    b'{"entries": [], "has_more": false}',
    b'{"has_more": false}',                    # no records key
    b'{"entries": {"uuid": "a"}}',             # one object, not a list
    b'[{"entries": [1]}]',                     # a body that is not an object
])
def test_the_python_extractor_returns_what_the_manifests_dpath_extractor_returns(body: bytes) -> None:
    def extract(extractor_class: type) -> list[Any]:
        extractor = extractor_class(field_path=["{{ parameters.records_key }}"], config={}, parameters={"records_key": "entries"})
        return list(extractor.extract_records(response_with(body)))

    assert extract(TopLevelKeyExtractor) == extract(DpathExtractor)


@pytest.mark.parametrize("body", [
    recorded_text("activities__1").encode(),
    b"<html><body>Down for maintenance</body></html>",
    b'{"entries": [{"uuid": "a"',               # cut short
    b"",
    b'{"amount_in_cents": NaN}',                # not JSON to orjson, JSON to the standard library
])
def test_the_error_handlers_body_check_sees_what_the_cdks_sees(body: bytes) -> None:
    def cdk_body(response: requests.Response) -> Any:
        try:
            return response.json()
        except requests.exceptions.JSONDecodeError:
            return {}

    cdk, ours = cdk_body(response_with(body)), json_body_or_empty(response_with(body))
    assert json.dumps(ours) == json.dumps(cdk)  # NaN != NaN, so compared as text


@pytest.mark.parametrize("body", [
    recorded_text("activities__1").encode(),
    b'{"entries": [], "has_more": false, "cursor": null}',
    b'[{"uuid": "a"}, {"uuid": "b"}]',          # a list: its items
    b"[]",                                      # an empty list, null and no JSON at all: {}
    b"null",
    b"<html><body>Down for maintenance</body></html>",
    b"",
    b"0",                                       # falsy JSON: itself
    b"false",
    b'{"amount_in_cents": NaN}',
])
def test_the_once_per_response_decoder_yields_what_the_cdks_json_decoder_yields(body: bytes) -> None:
    cdk = list(JsonDecoder(parameters={}).decode(response_with(body)))
    ours = list(OncePerResponseJsonDecoder().decode(response_with(body)))
    assert json.dumps(ours) == json.dumps(cdk)


def swapped(monkeypatch: pytest.MonkeyPatch, setting: str) -> dict[str, Any]:
    """What the installed manifest runs in place of the manifest's rules, with SOURCE_CHARTMOGUL_SPEED=setting."""
    monkeypatch.setenv(speed.ENVIRONMENT_VARIABLE, setting)
    definitions = installed_manifest()["definitions"]
    return {
        "window_filter": activities_record_filter({"definitions": definitions})["type"],
        "extractor": definitions["record_selector"]["extractor"]["type"],
        "metric extractor": definitions["metric_stream"]["retriever"]["record_selector"]["extractor"]["type"],
        "account extractor": definitions["streams"]["account"]["retriever"]["record_selector"]["extractor"]["type"],
        "decoders": sorted({definitions[shape]["retriever"].get("decoder", {}).get("class_name", "the CDK's")
                            for shape in ("list_stream", "metric_stream", "one_response_stream")}),
    }


def test_the_installed_connector_runs_the_faster_equivalents_where_the_manifest_holds_their_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    assert swapped(monkeypatch, "on") == {
        "window_filter": "CustomRecordFilter", "extractor": "CustomRecordExtractor", "metric extractor": "CustomRecordExtractor",
        "account extractor": "DpathExtractor",  # the whole body (field_path []): dpath walks nothing
        "decoders": [f"{SPEED}.OncePerResponseJsonDecoder"]}


def test_with_the_layer_off_the_manifests_own_rules_run(monkeypatch: pytest.MonkeyPatch) -> None:
    assert swapped(monkeypatch, "off") == {
        "window_filter": "RecordFilter", "extractor": "DpathExtractor", "metric extractor": "DpathExtractor",
        "account extractor": "DpathExtractor", "decoders": ["the CDK's"]}
    written = written_manifest()
    assert installed_manifest()["definitions"]["streams"] == written["definitions"]["streams"]  # streams as written


def test_one_piece_is_switched_off_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    assert swapped(monkeypatch, "-extractor,-window_filter") == {
        "window_filter": "RecordFilter", "extractor": "DpathExtractor", "metric extractor": "DpathExtractor",
        "account extractor": "DpathExtractor", "decoders": [f"{SPEED}.OncePerResponseJsonDecoder"]}


def test_a_changed_window_rule_in_the_manifest_is_not_replaced_by_the_old_equivalent() -> None:
    manifest = {"record_filter": {"type": "RecordFilter", "condition": "{{ record['date'] >= stream_interval.start_time }}"}}
    speed.make_faster([manifest["record_filter"]])
    assert manifest["record_filter"]["type"] == "RecordFilter"


@pytest.mark.parametrize("setting,message", [
    ("fast", "SOURCE_CHARTMOGUL_SPEED='fast': use on, off, or -piece,... with pieces among startup, window_filter,"
             " extractor, json_once, cursor_dates, heap_freeze, partition_backlog, malloc_trim (fast is not one)"),
    ("-extractor,-gc", "SOURCE_CHARTMOGUL_SPEED='-extractor,-gc': use on, off, or -piece,... with pieces among startup,"
                       " window_filter, extractor, json_once, cursor_dates, heap_freeze, partition_backlog, malloc_trim"
                       " (-gc is not one)"),
])
def test_a_setting_that_names_no_piece_is_refused_in_one_line(setting: str, message: str) -> None:
    with pytest.raises(ValueError) as refused:
        speed.pieces_off(setting)
    assert str(refused.value) == message


@pytest.mark.parametrize("setting,frozen", [("", True), ("off", False), ("-heap_freeze", False), ("-extractor", True)])
def test_a_command_runs_with_the_heap_it_started_with_frozen_unless_the_piece_is_off(setting: str, frozen: bool) -> None:
    program = ("import atexit, gc\n"
               "atexit.register(lambda: print(gc.get_freeze_count(), gc.isenabled()))\n"
               "from source_chartmogul.run import run\n"
               "run(['spec'])\n")
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120, check=True,
                            env={**os.environ, speed.ENVIRONMENT_VARIABLE: setting})
    count, enabled = result.stdout.splitlines()[-1].split()
    assert (int(count) > 50_000, enabled) == (frozen, "True")


# Prints what a sync writes (spec, the catalog, a record, a state with a private key, an error trace), which docstring
# reader serpyco-rs is left with, and the protocol's JSON schema. argv[1] "plain": the CDK imported first, as usual.
WRITER = """
import sys
if sys.argv[1] == "plain":
    import airbyte_cdk.models
from source_chartmogul.run import run
from airbyte_cdk.models import AirbyteMessageSerializer
import orjson, serpyco_rs._describe, serpyco_rs._json_schema._convert
run(["spec"])
run(["discover", "--config", sys.argv[2]])
for message in (
    {"type": "RECORD", "record": {"stream": "activities", "data": {"uuid": "a", "activity-mrr": 19900, "date": None}, "emitted_at": 1}},
    {"type": "STATE", "state": {"type": "STREAM", "stream": {"stream_descriptor": {"name": "activities"},
     "stream_state": {"date": "2025-01-01T00:00:00Z", "__ab_no_cursor_state_message": True}}, "sourceStats": {"recordCount": 2.0}}},
    {"type": "TRACE", "trace": {"type": "ERROR", "emitted_at": 2.0, "error": {"message": "m", "failure_type": "config_error"}}},
):
    print(orjson.dumps(AirbyteMessageSerializer.dump(AirbyteMessageSerializer.load(message))).decode())
print(serpyco_rs._describe.get_attributes_doc.__module__, serpyco_rs._json_schema._convert.get_attributes_doc.__module__)
print(orjson.dumps(AirbyteMessageSerializer.get_json_schema()).decode())
"""


def written(tmp_path: Path, how: str) -> list[str]:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(CONFIG))
    done = subprocess.run([sys.executable, "-c", WRITER, how, str(config)], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_the_cdk_imported_without_protocol_docstrings_writes_what_the_plain_cdk_writes(tmp_path: Path) -> None:
    ours, plain = written(tmp_path, "ours"), written(tmp_path, "plain")
    assert ours == plain  # the JSON schema too: the protocol classes have no attribute docstrings to read
    messages = {json.loads(line)["type"]: line for line in ours[:-2]}
    assert set(messages) == {"SPEC", "LOG", "CATALOG", "RECORD", "STATE", "TRACE"}
    assert '"__ab_no_cursor_state_message":true' in messages["STATE"]  # the state blob's private keys survive
    assert ours[-2] == "attributes_doc._base attributes_doc._base"  # serpyco-rs's reader is back for anything later
