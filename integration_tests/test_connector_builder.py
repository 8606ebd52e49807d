"""The Connector Builder, as after an import of manifest.yaml alone: it resolves, and test-reads every stream."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest
from airbyte_cdk.connector_builder.main import handle_request

from chartmogul_emulator import Emulator
from integration_tests.connector_cli import STREAM_NAMES, STREAMS
from source_chartmogul.source import written_manifest

KEY = "sk_builder_71c9e04d2a"


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(seed=13, customers=60, activities=600, api_key=KEY) as started:
        yield started


def builder_request(command: str, emulator: Emulator, tmp_path: Path, stream: str = "customers") -> dict[str, Any]:
    """What the Builder's backend answers; it reads only the manifest (a dict) and the user's config."""
    config = {
        "api_key": KEY, "start_date": "2019-01-01T00:00:00Z", "end_date": "2025-12-31T23:59:59Z", "base_url": emulator.url,
        "__command": command,
        "__injected_declarative_manifest": written_manifest(),
        "__test_read_config": {"max_records": 50, "max_pages_per_slice": 2, "max_slices": 3},
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "catalog.json").write_text(json.dumps({"streams": [e for e in STREAMS if e["stream"]["name"] == stream]}))
    message = json.loads(handle_request(["read", "--config", str(tmp_path / "config.json"), "--catalog", str(tmp_path / "catalog.json")]))
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
