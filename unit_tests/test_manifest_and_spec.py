"""The manifest builds, stays portable to the Connector Builder, and its spec turns bad settings into clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from airbyte_cdk.sources.declarative.concurrent_declarative_source import ConcurrentDeclarativeSource
from airbyte_cdk.sources.declarative.parsers.manifest_reference_resolver import ManifestReferenceResolver

from source_chartmogul import SourceChartmogul
from source_chartmogul.source import written_manifest

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS_DIR = ROOT / "source_chartmogul" / "schemas"
STREAMS = [
    "customers", "activities", "customer_count", "key_metrics", "mrr_metrics", "segment_customer_count",
    "segment_key_metrics", "segment_mrr_metrics", "plans", "plan_groups",
    "plan_group_plans", "invoices", "subscription_events", "data_sources", "account", "contacts",
    "customer_notes", "opportunities", "tasks", "customer_subscriptions",
]
LIST_STREAMS = ["customers", "plans", "plan_groups", "invoices", "subscription_events", "contacts", "customer_notes",
                "opportunities", "tasks"]
VALID = {"api_key": "sk_spec_5b1e0c7d93a24f68", "start_date": "2017-01-25T06:30:00Z"}


def walk(node: Any):
    """Every mapping in the manifest, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def test_manifest_builds_and_discovers_every_stream_with_the_sample_config() -> None:
    config = json.loads((ROOT / "integration_tests" / "sample_config.json").read_text())
    catalog = SourceChartmogul(config=config).discover(logger=None, config=config)  # type: ignore[arg-type]
    assert [stream.name for stream in catalog.streams] == STREAMS


def test_manifest_alone_builds_as_the_builder_and_source_declarative_manifest_load_it() -> None:
    """No Python package on the path: what an import into the Connector Builder gets."""
    source = ConcurrentDeclarativeSource(source_config=written_manifest(), config=VALID)
    assert [stream.name for stream in source.discover(logger=None, config=VALID).streams] == STREAMS  # type: ignore[arg-type]


def test_manifest_uses_no_deprecated_or_package_bound_component() -> None:
    nodes = list(walk(written_manifest()))
    assert not [n for n in nodes if n.get("type") == "JsonFileSchemaLoader"]
    assert not [n for n in nodes if n.get("type") == "HttpRequester" and ({"url_base", "path"} & n.keys())]
    assert not [n for n in nodes if str(n.get("type", "")).startswith("Custom")]


def test_every_stream_reads_its_schema_inline_from_the_schemas_section() -> None:
    streams = written_manifest()["definitions"]["streams"]
    assert {name: s["schema_loader"] for name, s in streams.items()} == {
        name: {"type": "InlineSchemaLoader", "schema": {"$ref": f"#/schemas/{name}"}} for name in STREAMS
    }


def test_inline_schemas_are_identical_to_the_schema_files() -> None:
    files = {path.stem: json.loads(path.read_text()) for path in SCHEMAS_DIR.glob("*.json")}
    assert written_manifest()["schemas"] == files, "run `make schemas` after editing source_chartmogul/schemas/*.json"


def test_spec_marks_the_key_secret_and_requires_key_and_start_date() -> None:
    spec = written_manifest()["spec"]["connection_specification"]
    assert spec["required"] == ["api_key", "start_date"]
    assert spec["properties"]["api_key"]["airbyte_secret"] is True
    assert list(spec["properties"]) == [
        "api_key", "start_date", "end_date", "interval", "lookback_window_days", "concurrency_level", "max_requests_per_second", "base_url",
        "include_disabled_and_invalid", "metrics_filters", "metrics_geo", "metrics_plans", "metrics_segments", "metrics_by_plan",
        "subscriptions_reread_days",
    ]
    assert [spec["properties"][name]["order"] for name in spec["properties"]] == list(range(len(spec["properties"])))


def check(config: dict[str, Any], tmp_path: Path) -> list[dict[str, Any]]:
    """`source-chartmogul check` as a user runs it: the messages it prints."""
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    result = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "check", "--config", str(config_file)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.parametrize(
    "change, message",
    [
        pytest.param(
            {"start_date": "2017-01-25"},
            "start_date '2017-01-25' is not valid: use yyyy-mm-ddThh:mm:ssZ (for example 2017-01-25T06:30:00Z).",
            id="start_date-without-time",
        ),
        pytest.param(
            {"interval": "hourly"},
            "interval 'hourly' is not one of day, week, month, quarter, year: pick one of those.",
            id="unknown-interval",
        ),
        pytest.param(
            {"base_url": "http://chartmogul.example.com"},
            "base_url 'http://chartmogul.example.com' is not valid: use https://..., or http:// only to localhost,"
            " 127.0.0.1 or [::1], so the key never crosses a network in clear text (for example https://api.chartmogul.com).",
            id="remote-plain-http-base_url",
        ),
    ],
)
def test_check_names_the_bad_setting_and_the_fix_before_any_request(change: dict[str, str], message: str, tmp_path: Path) -> None:
    messages = check({**VALID, **change, "base_url": change.get("base_url", "https://127.0.0.1:9")}, tmp_path)
    statuses = [m["connectionStatus"] for m in messages if m["type"] == "CONNECTION_STATUS"]
    assert statuses == [{"status": "FAILED", "message": message}]


def test_a_segments_fields_follow_the_rules_of_the_metrics_settings_of_the_same_meaning() -> None:
    """The spec states them twice (a JSON schema in the manifest's spec cannot point at another part of it)."""
    properties = written_manifest()["spec"]["connection_specification"]["properties"]
    fields = properties["metrics_segments"]["items"]["properties"]
    for field in ("filters", "geo", "plans"):
        setting = properties[f"metrics_{field}"]
        assert {key: fields[field][key] for key in ("type", "pattern", "pattern_descriptor", "examples")} == {
            key: setting[key] for key in ("type", "pattern", "pattern_descriptor", "examples")}


@pytest.mark.parametrize("stream", ["customer_count", "key_metrics", "mrr_metrics", "segment_customer_count",
                                    "segment_key_metrics", "segment_mrr_metrics"])
def test_metric_streams_handle_errors_as_every_stream_does_after_their_400_422_filter(stream: str) -> None:
    """metric_stream lists the shared response filters one by one (a $ref cannot extend a list): none may be missed."""
    resolved = ManifestReferenceResolver().preprocess_manifest(written_manifest())["definitions"]
    shared = resolved["requester"]["error_handler"]
    metric = resolved["streams"][stream]["retriever"]["requester"]["error_handler"]
    assert metric["response_filters"][0]["http_codes"] == [400, 422]
    assert metric["response_filters"][1:] == shared["response_filters"]
    assert {key: value for key, value in metric.items() if key != "response_filters"} == {
        key: value for key, value in shared.items() if key != "response_filters"}


@pytest.mark.parametrize("stream", [*LIST_STREAMS, "activities", "plan_group_plans", "customer_subscriptions"])
def test_list_streams_handle_errors_as_every_stream_does_then_fail_a_page_they_can_neither_follow_nor_end(stream: str) -> None:
    """list_requester lists the shared response filters one by one (a $ref cannot extend a list): none may be missed."""
    resolved = ManifestReferenceResolver().preprocess_manifest(written_manifest())["definitions"]
    shared = resolved["requester"]["error_handler"]
    handler = resolved["streams"][stream]["retriever"]["requester"]["error_handler"]
    assert handler["response_filters"] == [*shared["response_filters"], resolved["page_without_a_way_on"]]
    assert {key: value for key, value in handler.items() if key != "response_filters"} == {
        key: value for key, value in shared.items() if key != "response_filters"}
