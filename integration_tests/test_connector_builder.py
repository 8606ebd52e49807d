"""The manifest alone, as the Connector Builder imports it (it resolves, and test-reads every stream) and as
source-declarative-manifest runs it; and what these two, which never run source_chartmogul's Python, show of the key."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
from airbyte_cdk.connector_builder.main import handle_request

from chartmogul_emulator import Emulator
from integration_tests.connector_cli import STREAM_NAMES, STREAMS
from integration_tests.reliability import assert_key_hidden, forms_of_key
from source_chartmogul.source import MANIFEST_PATH, written_manifest

KEY = "sk_builder+71c9/e04d2a5"
BASIC_CREDENTIALS = forms_of_key(KEY)["base64 of 'key:'"]  # the key is long enough to need no padding


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(seed=13, customers=60, activities=600, api_key=KEY) as started:
        yield started


def builder_answer(command: str, emulator: Emulator, tmp_path: Path, stream: str = "customers") -> str:
    """What the Builder's backend answers, as written; it reads only the manifest (a dict) and the user's config."""
    config = {
        "api_key": KEY, "start_date": "2019-01-01T00:00:00Z", "end_date": "2025-12-31T23:59:59Z", "base_url": emulator.url,
        "metrics_segments": [{"name": "US in USD", "filters": "currency~ANY~'USD'", "geo": "US"}], "metrics_by_plan": True,
        "__command": command,
        "__injected_declarative_manifest": written_manifest(),
        "__test_read_config": {"max_records": 50, "max_pages_per_slice": 2, "max_slices": 3},
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "catalog.json").write_text(json.dumps({"streams": [e for e in STREAMS if e["stream"]["name"] == stream]}))
    return handle_request(["read", "--config", str(tmp_path / "config.json"), "--catalog", str(tmp_path / "catalog.json")])


def builder_request(command: str, emulator: Emulator, tmp_path: Path, stream: str = "customers") -> dict[str, Any]:
    message = json.loads(builder_answer(command, emulator, tmp_path, stream))
    assert message["type"] == "RECORD", message
    return message["record"]["data"]


def test_the_builder_resolves_the_manifest_with_every_stream_and_its_inline_schema(emulator: Emulator, tmp_path: Path) -> None:
    resolved = builder_request("resolve_manifest", emulator, tmp_path)["manifest"]
    assert [stream["name"] for stream in resolved["streams"]] == STREAM_NAMES
    assert all(stream["schema_loader"]["schema"]["properties"] for stream in resolved["streams"])


@pytest.mark.parametrize("stream", STREAM_NAMES)
def test_the_builder_test_reads_records_without_warnings(stream: str, emulator: Emulator, tmp_path: Path) -> None:
    result = builder_request("test_read", emulator, tmp_path, stream)

    records = [record for slice_ in result["slices"] for page in slice_["pages"] for record in page["records"]]
    assert records, f"{stream}: the Builder's test read returned no records"
    problems = [log["message"] for log in result["logs"] if log["level"] in ("WARN", "WARNING", "ERROR", "FATAL")]
    assert problems == []


def test_the_builder_test_reads_a_segment_stream_one_slice_per_segment_configured_first_then_each_plan(
        emulator: Emulator, tmp_path: Path) -> None:
    result = builder_request("test_read", emulator, tmp_path, "segment_mrr_metrics")

    plans = [plan["name"] for plan in emulator.truth("/v1/plans")]
    segments = [{record["segment"] for page in slice_["pages"] for record in page["records"]} for slice_ in result["slices"]]
    assert segments == [{"US in USD"}, {plans[0]}, {plans[1]}]  # max_slices 3


# Known limit, pinned to airbyte-cdk 7.39.1 (docs/reliability.md): the key's derived forms are masked by
# ChartmogulEntrypoint, which the manifest alone does not run, and a manifest cannot register a secret. These two
# tests fail when the CDK masks the Basic credentials itself, or shows more than them: then the docs change.

def test_the_builder_test_read_shows_each_page_request_with_its_basic_credentials(emulator: Emulator, tmp_path: Path) -> None:
    """The Builder shows the user who typed the key each request it sent, Authorization header included."""
    answer = builder_answer("test_read", emulator, tmp_path)
    pages = [page for slice_ in json.loads(answer)["record"]["data"]["slices"] for page in slice_["pages"]]
    assert [page["request"]["headers"]["Authorization"] for page in pages] == [f"Basic {BASIC_CREDENTIALS}"]
    for page in pages:
        del page["request"]["headers"]["Authorization"]
    assert_key_hidden(json.dumps(pages), KEY)  # nowhere else, in no form
    assert_key_hidden(answer.replace(f'"Authorization":"Basic {BASIC_CREDENTIALS}"', ""), KEY)


def source_declarative_manifest(command: str, emulator: Emulator, tmp_path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "config.json").write_text(json.dumps({"api_key": KEY, "start_date": "2019-01-01T00:00:00Z", "base_url": emulator.url}))
    program = Path(sys.executable).parent / "source-declarative-manifest"
    return subprocess.run([str(program), command, "--config", str(tmp_path / "config.json"), "--manifest-path", str(MANIFEST_PATH), *flags],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)


def test_source_declarative_manifest_hides_the_key_but_under_debug_logs_its_basic_credentials(emulator: Emulator, tmp_path: Path) -> None:
    default = source_declarative_manifest("check", emulator, tmp_path)
    assert '"status":"SUCCEEDED"' in default.stdout
    assert_key_hidden(default.stdout + default.stderr, KEY)

    debug = source_declarative_manifest("check", emulator, tmp_path, "--debug")
    assert '"status":"SUCCEEDED"' in debug.stdout
    header = f"'Authorization': 'Basic {BASIC_CREDENTIALS}'"
    leaking = [json.loads(line) for line in debug.stdout.splitlines() if BASIC_CREDENTIALS in line]
    assert [(m["message"], header in m["data"]["headers"]) for m in leaking] == [("Making outbound API request", True)]
    assert_key_hidden(debug.stdout.replace(header, "") + debug.stderr, KEY)
